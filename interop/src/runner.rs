//! Replays a parsed case file against one running server.
//!
//! The runner turns each compared step into an [`Observation`] (normalised
//! stdout, stderr and how the process ended). Running the same script
//! against two servers yields two transcripts of equal length that the
//! report module compares pairwise.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::normalize::Normalizer;
use crate::process::{run_with_timeout, Captured, Outcome, Running, POLL_INTERVAL};
use crate::script::{self, AwaitFor, Script, Step, AWAIT_DEADLINE};
use crate::server::{scrub_env, Server};

/// Upper bound for one foreground etcdctl run (its own timeouts are 2s dial
/// plus 5s per request).
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(20);

/// The normalised result of one compared step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Line in the case file.
    pub line: usize,
    /// The case file line, as written.
    pub text: String,
    pub stdout: String,
    pub stderr: String,
    /// How the command ended, e.g. `exit 1`.
    pub outcome: String,
}

/// Everything one server produced for one case file.
#[derive(Debug, Default)]
pub struct Transcript {
    pub observations: Vec<Observation>,
    /// Harness-level problems (a capture that did not match, a condition that
    /// never became true). On the reference server these mean the case file
    /// itself is wrong.
    pub problems: Vec<String>,
    /// Set if the server process died, which ends the script early.
    pub server_died: Option<String>,
}

impl Transcript {
    /// Renders the transcript as text, for `INTEROP_TRANSCRIPTS`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for o in &self.observations {
            out.push_str(&format!(
                "### line {}: {}\n# {}\n",
                o.line, o.text, o.outcome
            ));
            out.push_str(&format!("--- stdout\n{}", o.stdout));
            out.push_str(&format!("--- stderr\n{}", o.stderr));
            out.push('\n');
        }
        for p in &self.problems {
            out.push_str(&format!("!!! {p}\n"));
        }
        out
    }
}

struct Background {
    running: Running,
    line: usize,
    text: String,
}

/// Per-run state: variables, normaliser, background processes.
struct Runner<'a> {
    server: &'a mut Server,
    etcdctl: &'a Path,
    vars: HashMap<String, String>,
    normalizer: Normalizer,
    background: HashMap<String, Background>,
    last_stdout: Option<String>,
    transcript: Transcript,
}

/// Runs `script` against `server` using the etcdctl binary `etcdctl`.
/// Stops early if the server process exits.
pub fn run_script(script: &Script, server: &mut Server, etcdctl: &Path) -> Transcript {
    let mut vars = HashMap::new();
    vars.insert("TMP".to_string(), server.scratch_dir.display().to_string());
    let normalizer = Normalizer::new(&server.client_url, &server.peer_url, &server.scratch_dir);
    let mut runner = Runner {
        server,
        etcdctl,
        vars,
        normalizer,
        background: HashMap::new(),
        last_stdout: None,
        transcript: Transcript::default(),
    };
    for step in &script.steps {
        runner.step(step);
        // A crashed server would turn every later command into a slow
        // timeout; stop and report the crash instead.
        if let Some(status) = runner.server.exited() {
            runner.transcript.server_died = Some(format!(
                "{} exited with {status} while running line {}\n{}",
                runner.server.label,
                step.line(),
                runner.server.log_tail()
            ));
            break;
        }
    }
    let mut leftovers: Vec<_> = runner.background.drain().collect();
    leftovers.sort_by_key(|(_, bg)| bg.line);
    for (name, bg) in leftovers {
        bg.running.stop();
        runner.transcript.problems.push(format!(
            "line {}: background `{name}` was never awaited",
            bg.line
        ));
    }
    runner.transcript
}

impl Runner<'_> {
    fn step(&mut self, step: &Step) {
        match step {
            Step::Run(cmd) => {
                let captured = self.run(&cmd.args, cmd.stdin.as_deref(), cmd.line);
                self.last_stdout = Some(captured.stdout.clone());
                self.observe(cmd.line, &cmd.text, &captured);
            }
            Step::Capture { line, var, pattern } => {
                let value = self
                    .last_stdout
                    .as_deref()
                    .and_then(|out| pattern.captures(out))
                    .and_then(|caps| caps.get(1))
                    .map(|m| m.as_str().to_string());
                match value {
                    Some(v) => {
                        self.vars.insert(var.clone(), v);
                    }
                    None => self.problem(
                        *line,
                        format!("@capture {var}: /{pattern}/ did not match the previous stdout"),
                    ),
                }
            }
            Step::Background { name, command } => {
                let cmd = self.etcdctl_command(&command.args, command.line);
                let stdin = command
                    .stdin
                    .as_deref()
                    .map(|s| self.expand(s, command.line));
                match Running::spawn(cmd, stdin) {
                    Ok(running) => {
                        self.background.insert(
                            name.clone(),
                            Background {
                                running,
                                line: command.line,
                                text: command.text.clone(),
                            },
                        );
                    }
                    Err(e) => self.problem(command.line, format!("cannot start etcdctl: {e}")),
                }
            }
            Step::Await { line, name, until } => self.await_background(*line, name, *until),
            Step::Until {
                deadline,
                pattern,
                command,
            } => {
                let end = Instant::now() + *deadline;
                loop {
                    let captured = self.run(&command.args, command.stdin.as_deref(), command.line);
                    // Match on a scratch copy so that polls do not number IDs.
                    let probe = self.normalizer.clone().normalize(&captured.stdout);
                    if pattern.is_match(&probe) {
                        self.last_stdout = Some(captured.stdout.clone());
                        self.observe(command.line, &command.text, &captured);
                        break;
                    }
                    if Instant::now() >= end {
                        let mut captured = captured;
                        captured.outcome = Outcome::TimedOut(format!(
                            "stdout never matched /{pattern}/ within {}s",
                            deadline.as_secs()
                        ));
                        self.problem(command.line, format!("{}", captured.outcome));
                        self.observe(command.line, &command.text, &captured);
                        break;
                    }
                    std::thread::sleep(POLL_INTERVAL * 2);
                }
            }
        }
    }

    fn await_background(&mut self, line: usize, name: &str, until: AwaitFor) {
        let Some(mut bg) = self.background.remove(name) else {
            self.problem(line, format!("@await {name}: it was not started"));
            let missing = Observation {
                line,
                text: format!("@await {name}"),
                stdout: String::new(),
                stderr: String::new(),
                outcome: "background command was not started".to_string(),
            };
            self.transcript.observations.push(missing);
            return;
        };
        let end = Instant::now() + AWAIT_DEADLINE;
        let captured = match until {
            AwaitFor::Exit => bg
                .running
                .finish(end, "did not exit within the @await deadline"),
            AwaitFor::Lines(n) => loop {
                if bg.running.stdout_lines() >= n {
                    break bg.running.stop();
                }
                if bg.running.try_wait().is_some() {
                    // Exited early: report what it printed and how it ended.
                    break bg.running.stop();
                }
                if Instant::now() >= end {
                    break bg
                        .running
                        .stop_timed_out(&format!("fewer than {n} stdout lines within 10s"));
                }
                std::thread::sleep(POLL_INTERVAL);
            },
        };
        if let Outcome::TimedOut(what) = &captured.outcome {
            self.problem(line, format!("@await {name}: {what}"));
        }
        let text = format!("{} (awaited at line {line})", bg.text);
        self.observe(bg.line, &text, &captured);
    }

    fn run(&mut self, args: &[String], stdin: Option<&str>, line: usize) -> Captured {
        let cmd = self.etcdctl_command(args, line);
        let stdin = stdin.map(|s| self.expand(s, line));
        run_with_timeout(cmd, stdin, COMMAND_DEADLINE).unwrap_or_else(|e| Captured {
            stdout: String::new(),
            stderr: format!("harness: cannot run {}: {e}\n", self.etcdctl.display()),
            outcome: Outcome::Exited(-1),
        })
    }

    fn etcdctl_command(&mut self, args: &[String], line: usize) -> Command {
        let mut cmd = Command::new(self.etcdctl);
        scrub_env(&mut cmd);
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.server.client_url));
        for arg in args {
            let expanded = self.expand(arg, line);
            cmd.arg(expanded);
        }
        cmd
    }

    fn expand(&mut self, text: &str, line: usize) -> String {
        let (out, unknown) = script::expand(text, |name| self.vars.get(name).cloned());
        for name in unknown {
            self.problem(line, format!("undefined variable ${name}"));
        }
        out
    }

    fn observe(&mut self, line: usize, text: &str, captured: &Captured) {
        let observation = Observation {
            line,
            text: text.to_string(),
            stdout: self.normalizer.normalize(&captured.stdout),
            stderr: self.normalizer.normalize(&captured.stderr),
            outcome: captured.outcome.to_string(),
        };
        self.transcript.observations.push(observation);
    }

    fn problem(&mut self, line: usize, message: String) {
        self.transcript
            .problems
            .push(format!("line {line}: {message}"));
    }
}
