//! Child-process plumbing with hard time bounds.
//!
//! Every process the suite starts (servers, foreground and background
//! etcdctl runs) is owned by a [`ChildGuard`] that kills it on drop, so a
//! panicking test never leaks a server, and every wait has a deadline, so a
//! hung server under test turns into a failure instead of a hung CI job.

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often wait loops re-check their condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Owns a child process and kills it when dropped.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
}

impl ChildGuard {
    pub fn new(child: Child) -> Self {
        Self { child: Some(child) }
    }

    /// The OS process id.
    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Returns the exit status if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits up to `deadline` for the process to exit by itself.
    pub fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Kills the process (if still running) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                // Ignore errors: the process may exit between the check and the kill.
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Bytes collected from a pipe by a reader thread.
#[derive(Debug, Clone, Default)]
pub struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    /// A copy of everything read so far, lossily decoded.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().expect("pipe buffer mutex poisoned");
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Number of complete lines read so far.
    pub fn line_count(&self) -> usize {
        let bytes = self.0.lock().expect("pipe buffer mutex poisoned");
        bytes.iter().filter(|&&b| b == b'\n').count()
    }

    fn spawn_reader(&self, mut pipe: impl Read + Send + 'static) -> JoinHandle<()> {
        let buf = Arc::clone(&self.0);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf
                        .lock()
                        .expect("pipe buffer mutex poisoned")
                        .extend_from_slice(&chunk[..n]),
                }
            }
        })
    }
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Exited by itself with this code.
    Exited(i32),
    /// Terminated by a signal it was not sent by the harness.
    Signalled,
    /// Killed by the harness because it reached the awaited condition.
    Killed,
    /// Killed by the harness because a deadline passed first.
    TimedOut(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Exited(code) => write!(f, "exit {code}"),
            Outcome::Signalled => write!(f, "killed by a signal"),
            Outcome::Killed => write!(f, "stopped by the harness"),
            Outcome::TimedOut(what) => write!(f, "TIMED OUT ({what})"),
        }
    }
}

fn outcome_of(status: ExitStatus) -> Outcome {
    status.code().map_or(Outcome::Signalled, Outcome::Exited)
}

/// Captured output of a finished command.
#[derive(Debug, Clone)]
pub struct Captured {
    pub stdout: String,
    pub stderr: String,
    pub outcome: Outcome,
}

/// A running command whose stdout/stderr are being collected.
#[derive(Debug)]
pub struct Running {
    guard: ChildGuard,
    stdout: SharedBuf,
    stderr: SharedBuf,
    readers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Starts `cmd` with piped stdio, feeding `stdin` (if any) from a thread.
    pub fn spawn(mut cmd: Command, stdin: Option<String>) -> std::io::Result<Self> {
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let stdout = SharedBuf::default();
        let stderr = SharedBuf::default();
        let mut readers = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            readers.push(stdout.spawn_reader(pipe));
        }
        if let Some(pipe) = child.stderr.take() {
            readers.push(stderr.spawn_reader(pipe));
        }
        if let (Some(mut pipe), Some(input)) = (child.stdin.take(), stdin) {
            // A writer thread avoids a deadlock if the child does not read its input.
            std::thread::spawn(move || {
                let _ = pipe.write_all(input.as_bytes());
            });
        }
        Ok(Self {
            guard: ChildGuard::new(child),
            stdout,
            stderr,
            readers,
        })
    }

    /// Lines printed on stdout so far.
    pub fn stdout_lines(&self) -> usize {
        self.stdout.line_count()
    }

    /// Returns the exit status if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.guard.try_wait()
    }

    /// Waits for exit until `deadline`; kills the process if it is still
    /// running then, reporting `TimedOut(what)`.
    pub fn finish(mut self, deadline: Instant, what: &str) -> Captured {
        let outcome = match self.guard.wait_until(deadline) {
            Some(status) => outcome_of(status),
            None => Outcome::TimedOut(what.to_string()),
        };
        self.collect(outcome)
    }

    /// Kills the process now (recording `Killed`) unless it already exited.
    pub fn stop(mut self) -> Captured {
        let outcome = match self.guard.try_wait() {
            Some(status) => outcome_of(status),
            None => Outcome::Killed,
        };
        self.collect(outcome)
    }

    /// Kills the process, recording that a deadline passed first.
    pub fn stop_timed_out(self, what: &str) -> Captured {
        let mut captured = self.stop();
        if captured.outcome == Outcome::Killed {
            captured.outcome = Outcome::TimedOut(what.to_string());
        }
        captured
    }

    fn collect(mut self, outcome: Outcome) -> Captured {
        self.guard.kill();
        // The pipes close once the process is gone, so the readers finish.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Captured {
            stdout: self.stdout.text(),
            stderr: self.stderr.text(),
            outcome,
        }
    }
}

/// Runs a command to completion, killing it after `timeout`.
pub fn run_with_timeout(
    cmd: Command,
    stdin: Option<String>,
    timeout: Duration,
) -> std::io::Result<Captured> {
    let running = Running::spawn(cmd, stdin)?;
    Ok(running.finish(
        Instant::now() + timeout,
        &format!("still running after {}s", timeout.as_secs()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_exit_code() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "cat; echo err >&2; exit 3"]);
        let out = run_with_timeout(cmd, Some("hello\n".into()), Duration::from_secs(10))
            .expect("sh runs");
        assert_eq!(out.stdout, "hello\n");
        assert_eq!(out.stderr, "err\n");
        assert_eq!(out.outcome, Outcome::Exited(3));
    }

    #[test]
    fn kills_on_timeout() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let started = Instant::now();
        let out = run_with_timeout(cmd, None, Duration::from_millis(200)).expect("sleep runs");
        assert!(matches!(out.outcome, Outcome::TimedOut(_)));
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
