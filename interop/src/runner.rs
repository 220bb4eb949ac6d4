//! Replays a parsed case file against one running server (a single member
//! or a cluster).
//!
//! The runner turns each compared step into an [`Observation`] (normalised
//! stdout, stderr and how the process ended). Running the same script
//! against two servers yields two transcripts of equal length that the
//! report module compares pairwise.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::normalize::{mask_responder, number_hashes, Normalizer};
use crate::process::{run_with_timeout, Captured, Outcome, Running, POLL_INTERVAL};
use crate::records::{self, Shape};
use crate::script::{self, AwaitFor, MemberAction, Script, Step, AWAIT_DEADLINE};
use crate::server::{scrub_env, Cluster};

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
    /// How its output is normalised.
    shape: Shape,
    endpoints: usize,
}

/// Per-run state: variables, normaliser, background processes.
struct Runner<'a> {
    cluster: &'a mut Cluster,
    etcdctl: &'a Path,
    vars: HashMap<String, String>,
    normalizer: Normalizer,
    background: HashMap<String, Background>,
    last_stdout: Option<String>,
    transcript: Transcript,
}

/// Runs `script` against `cluster` using the etcdctl binary `etcdctl`.
/// Stops early if a server process exits unexpectedly.
pub fn run_script(script: &Script, cluster: &mut Cluster, etcdctl: &Path) -> Transcript {
    let mut vars = HashMap::new();
    vars.insert("TMP".to_string(), cluster.scratch_dir.display().to_string());
    let mut normalizer = Normalizer::new(&cluster.scratch_dir);
    for m in &cluster.members {
        if cluster.clustered {
            let p = m.var_prefix();
            for (kind, port, url) in [
                ("CLIENT", m.client_port, &m.client_url),
                ("PEER", m.peer_port, &m.peer_url),
            ] {
                normalizer.add_port(
                    port,
                    &format!("{p}_{kind}_URL"),
                    &format!("{p}_{kind}_ADDR"),
                    &format!("{p}_{kind}_PORT"),
                );
                vars.insert(format!("{p}_{kind}_URL"), url.clone());
                vars.insert(format!("{p}_{kind}_PORT"), port.to_string());
            }
        } else {
            normalizer.add_port(m.client_port, "ENDPOINT", "ENDPOINT", "ENDPOINT_PORT");
            normalizer.add_port(m.peer_port, "PEER_URL", "PEER_URL", "PEER_PORT");
        }
    }
    let expected_exits = script.expected_exits();
    let mut runner = Runner {
        cluster,
        etcdctl,
        vars,
        normalizer,
        background: HashMap::new(),
        last_stdout: None,
        transcript: Transcript::default(),
    };
    runner.sync_ids();
    for step in &script.steps {
        runner.step(step);
        // A crashed server would turn every later command into a slow
        // timeout; stop and report the crash instead.
        if let Some(message) = runner.cluster.check_exits(&expected_exits) {
            runner.transcript.server_died =
                Some(format!("{message}\n(noticed after line {})", step.line()));
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
                let endpoints = self.endpoints(cmd);
                let captured = self.run(&endpoints, &cmd.args, cmd.stdin.as_deref(), cmd.line);
                self.last_stdout = Some(captured.stdout.clone());
                self.observe_command(cmd, endpoints.len(), &captured);
            }
            Step::Member { line, text, action } => self.member_action(*line, text, action),
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
                let endpoints = self.endpoints(command);
                let cmd = self.client_command(&endpoints, &command.args, command.line);
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
                                shape: records::shape(&command.args),
                                endpoints: endpoints.len(),
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
                let endpoints = self.endpoints(command);
                let shape = records::shape(&command.args);
                loop {
                    let captured = self.run(
                        &endpoints,
                        &command.args,
                        command.stdin.as_deref(),
                        command.line,
                    );
                    // Match on a scratch copy so that polls do not number IDs.
                    let probe = normalize_stdout(
                        &mut self.normalizer.clone(),
                        shape,
                        endpoints.len(),
                        &captured.stdout,
                    );
                    if pattern.is_match(&probe) {
                        self.last_stdout = Some(captured.stdout.clone());
                        self.observe_command(command, endpoints.len(), &captured);
                        break;
                    }
                    if Instant::now() >= end {
                        let mut captured = captured;
                        captured.outcome = Outcome::TimedOut(format!(
                            "stdout never matched /{pattern}/ within {}s",
                            deadline.as_secs()
                        ));
                        self.problem(command.line, format!("{}", captured.outcome));
                        self.observe_command(command, endpoints.len(), &captured);
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
        self.observe(bg.line, &text, bg.shape, bg.endpoints, &captured);
    }

    /// Carries out `@start-member`, `@kill`, `@restart`, `@leader`,
    /// `@expect-exit`; all but `@kill` are compared by a one-line result.
    fn member_action(&mut self, line: usize, text: &str, action: &MemberAction) {
        let result = match action {
            MemberAction::Kill(name) => {
                self.cluster.kill(name);
                return;
            }
            MemberAction::Start { name, flags } => {
                let flags: Vec<String> = flags.iter().map(|f| self.expand(f, line)).collect();
                let started = self.cluster.start_member(name, &flags);
                self.sync_ids();
                started.map(|()| format!("{name} started"))
            }
            MemberAction::Restart(name) => self
                .cluster
                .restart(name)
                .map(|()| format!("{name} restarted")),
            MemberAction::Leader(name) => self.cluster.pin_leader(name).and_then(|text| {
                if text == format!("leader: {name}") {
                    Ok(text)
                } else {
                    Err(text)
                }
            }),
            MemberAction::ExpectExit { name, deadline } => {
                Ok(self.cluster.expect_exit(name, *deadline))
            }
        };
        let (stdout, outcome) = match result {
            Ok(text) => (format!("{text}\n"), "ok".to_string()),
            Err(e) => {
                let first = e.lines().next().unwrap_or_default().to_string();
                self.problem(line, e);
                (format!("{first}\n"), "failed".to_string())
            }
        };
        let observation = Observation {
            line,
            text: text.to_string(),
            stdout: self.normalizer.normalize(&stdout),
            stderr: String::new(),
            outcome,
        };
        self.transcript.observations.push(observation);
    }

    /// Pushes the member IDs the cluster knows into the normaliser and
    /// the `$N1_ID` variables.
    fn sync_ids(&mut self) {
        if !self.cluster.clustered {
            return;
        }
        for (name, id) in &self.cluster.ids {
            self.normalizer.name_id(*id, &format!("<ID:{name}>"));
            self.vars
                .insert(format!("{}_ID", name.to_uppercase()), format!("{id:x}"));
        }
        if let Some(cid) = self.cluster.cluster_id {
            self.normalizer.name_id(cid, "<CLUSTER_ID>");
        }
    }

    /// The client URLs a command goes to.
    fn endpoints(&self, cmd: &script::Command) -> Vec<String> {
        match &cmd.target {
            Some(names) => self.cluster.endpoints_of(names),
            None => self.cluster.default_endpoints(),
        }
    }

    fn run(
        &mut self,
        endpoints: &[String],
        args: &[String],
        stdin: Option<&str>,
        line: usize,
    ) -> Captured {
        let cmd = self.client_command(endpoints, args, line);
        let stdin = stdin.map(|s| self.expand(s, line));
        run_with_timeout(cmd, stdin, COMMAND_DEADLINE).unwrap_or_else(|e| Captured {
            stdout: String::new(),
            stderr: format!("harness: cannot run {args:?}: {e}\n"),
            outcome: Outcome::Exited(-1),
        })
    }

    /// The command line of a step: etcdctl (v3 or v2), or curl.
    fn client_command(&mut self, endpoints: &[String], args: &[String], line: usize) -> Command {
        if let Some((first, rest)) = args.split_first() {
            if first == script::CURL_MARKER {
                return self.curl_command(endpoints, rest, line);
            }
        }
        let mut cmd = Command::new(self.etcdctl);
        scrub_env(&mut cmd);
        let (api, args) = match args.split_first() {
            Some((first, rest)) if first == script::V2_MARKER => ("2", rest),
            _ => ("3", args),
        };
        cmd.env("ETCDCTL_API", api)
            .arg(format!("--endpoints={}", endpoints.join(",")));
        for arg in args {
            let expanded = self.expand(arg, line);
            cmd.arg(expanded);
        }
        cmd
    }

    /// `curl ARGS`: paths on the first endpoint, the status last.
    fn curl_command(&mut self, endpoints: &[String], args: &[String], line: usize) -> Command {
        let mut cmd = Command::new("curl");
        scrub_env(&mut cmd);
        cmd.args(["-s", "-S", "-w", "\n%{http_code}\n"]);
        let base = endpoints.first().cloned().unwrap_or_default();
        for arg in args {
            let expanded = self.expand(arg, line);
            if expanded.starts_with('/') {
                cmd.arg(format!("{base}{expanded}"));
            } else {
                cmd.arg(expanded);
            }
        }
        cmd
    }

    fn expand(&mut self, text: &str, line: usize) -> String {
        let endpoints = self.cluster.default_endpoints().join(",");
        let (out, unknown) = script::expand(text, |name| match name {
            "ENDPOINTS" => Some(endpoints.clone()),
            _ => self.vars.get(name).cloned(),
        });
        for name in unknown {
            self.problem(line, format!("undefined variable ${name}"));
        }
        out
    }

    /// Records a foreground command's result; first learns the ID of a
    /// member that `member add` reports, so that it is masked by name.
    fn observe_command(&mut self, cmd: &script::Command, endpoints: usize, captured: &Captured) {
        if self.cluster.clustered {
            self.cluster.learn_from_member_add(&captured.stdout);
            self.sync_ids();
        }
        let shape = records::shape(&cmd.args);
        self.observe(cmd.line, &cmd.text, shape, endpoints, captured);
    }

    fn observe(
        &mut self,
        line: usize,
        text: &str,
        shape: Shape,
        endpoints: usize,
        captured: &Captured,
    ) {
        let stdout = normalize_stdout(&mut self.normalizer, shape, endpoints, &captured.stdout);
        let mut stderr = self.normalizer.normalize(&captured.stderr);
        stderr = number_hashes(&records::sort_stderr(shape, &stderr));
        let observation = Observation {
            line,
            text: text.to_string(),
            stdout,
            stderr,
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

/// Normalises a command's stdout: masks, record order, and the answering
/// member when the balancer chose among several endpoints.
fn normalize_stdout(
    normalizer: &mut Normalizer,
    shape: Shape,
    endpoints: usize,
    stdout: &str,
) -> String {
    let mut out = normalizer.normalize(stdout);
    out = number_hashes(&records::sort_stdout(shape, &out));
    if shape.balanced && endpoints > 1 {
        out = mask_responder(&out);
    }
    out
}
