//! `etcdctl watch`: streams events for a key, range or prefix; `-i` reads
//! `watch ...`/`progress` lines from stdin; `-- cmd args` runs a command for
//! every event with `ETCD_WATCH_*` variables. Argument handling (including
//! `ETCDCTL_WATCH_KEY`/`ETCDCTL_WATCH_RANGE_END`) follows etcdctl's
//! `parseWatchArgs` (in `args.rs`).

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::time::Duration;

use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{
    WatchCreateRequest, WatchProgressRequest, WatchRequest, WatchResponse,
};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

mod args;

use args::{create_request, parse_args, parse_interactive, Env, Opts};

use super::argify::argify;
use super::client::{status_message, Client};
use super::concurrency::AbortOnDrop;
use super::error::{
    CtlError, CtlResult, EXIT_BAD_ARGS, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_INVALID_INPUT,
};
use super::printer::{event_type_name, Out, Printer, WatchResp};
use super::{global, gofmt, Invocation};

/// One watch and where its stream stands.
struct Watcher {
    req: WatchCreateRequest,
    exec: Vec<Vec<u8>>,
    /// The revision to resume from after a reconnect (0: as requested).
    next_rev: i64,
    open: bool,
}

/// clientv3's `WatchResponse.Err()` for a canceled response.
fn cancel_error(r: &WatchResponse) -> String {
    if r.compact_revision != 0 {
        "etcdserver: mvcc: required revision has been compacted".into()
    } else if !r.cancel_reason.is_empty() {
        status_message(tonic::Code::FailedPrecondition, &r.cancel_reason)
    } else {
        "etcdserver: mvcc: required revision is a future revision".into()
    }
}

/// Runs the exec command for every event, as etcdctl's `printWatchCh`.
fn run_exec(exec: &[Vec<u8>], resp: &WatchResp) -> CtlResult {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    for ev in &resp.events {
        let kv = ev.kv.clone().unwrap_or_default();
        let status = std::process::Command::new(OsStr::from_bytes(&exec[0]))
            .args(exec[1..].iter().map(|a| OsStr::from_bytes(a)))
            .env_remove("ETCDCTL_API")
            .env("ETCD_WATCH_REVISION", resp.header.revision.to_string())
            .env(
                "ETCD_WATCH_EVENT_TYPE",
                gofmt::quote(event_type_name(ev.r#type).as_bytes()),
            )
            .env("ETCD_WATCH_KEY", gofmt::quote(&kv.key))
            .env("ETCD_WATCH_VALUE", gofmt::quote(&kv.value))
            .status();
        let err = match status {
            Ok(s) if s.success() => continue,
            Ok(s) => match s.code() {
                Some(c) => format!("exit status {c}"),
                None => "signal: killed".to_string(),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!(
                "exec: {}: executable file not found in $PATH",
                gofmt::quote(&exec[0])
            ),
            Err(e) => super::snapshot::go_errno(&e),
        };
        let quoted: Vec<String> = exec.iter().map(|a| gofmt::quote(a)).collect();
        return Err(CtlError::raw(
            EXIT_ERROR,
            format!("command [{}] error ({err})\n", quoted.join(" ")),
        ));
    }
    Ok(())
}

/// A line typed in interactive mode, or the end of input.
enum Line {
    Text(Vec<u8>),
    Eof,
}

fn spawn_stdin_reader() -> mpsc::UnboundedReceiver<Line> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        loop {
            let mut buf = Vec::new();
            match lock.read_until(b'\n', &mut buf) {
                Ok(_) if buf.last() == Some(&b'\n') => {
                    buf.pop();
                    if tx.send(Line::Text(buf)).is_err() {
                        return;
                    }
                }
                _ => {
                    let _ = tx.send(Line::Eof);
                    return;
                }
            }
        }
    });
    rx
}

/// The watch session: one gRPC stream carrying every watcher.
struct Session<'a> {
    printer: &'a dyn Printer,
    watchers: Vec<Watcher>,
    interactive: bool,
    env: Env,
}

impl Session<'_> {
    fn create(&self, w: &Watcher) -> WatchRequest {
        let mut req = w.req.clone();
        if w.next_rev > 0 {
            req.start_revision = w.next_rev;
        }
        WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(req)),
        }
    }

    /// Handles one response; `Err` ends the command.
    fn on_response(
        &mut self,
        resp: WatchResponse,
        pending: &mut VecDeque<usize>,
        ids: &mut HashMap<i64, usize>,
    ) -> CtlResult {
        if resp.created {
            if let Some(idx) = pending.pop_front() {
                ids.insert(resp.watch_id, idx);
                if self.watchers[idx].next_rev == 0 && self.watchers[idx].req.start_revision == 0 {
                    self.watchers[idx].next_rev = resp.header.map(|h| h.revision).unwrap_or(0);
                }
            }
            if !resp.canceled {
                return Ok(());
            }
        }
        let Some(&idx) = ids.get(&resp.watch_id) else {
            return Ok(());
        };
        if resp.canceled && resp.compact_revision == 0 {
            return self.close(idx);
        }
        let header = resp.header.unwrap_or_default();
        let wr = WatchResp {
            header,
            events: resp.events.clone(),
            compact_revision: resp.compact_revision,
            canceled: resp.canceled,
            created: false,
        };
        let mut o = Out::new();
        if resp.canceled {
            o.eprint(&format!("watch was canceled ({})\n", cancel_error(&resp)));
        }
        if wr.events.is_empty() && !wr.canceled && wr.compact_revision == 0 && header.revision != 0
        {
            o.println(&format!("progress notify: {}", header.revision));
        }
        let printed = self.printer.watch(&mut o, &wr);
        o.flush();
        printed?;
        let w = &mut self.watchers[idx];
        w.next_rev = match wr.events.last().and_then(|e| e.kv.as_ref()) {
            Some(kv) => kv.mod_revision + 1,
            None => header.revision.max(w.next_rev),
        };
        if !w.exec.is_empty() {
            run_exec(&w.exec.clone(), &wr)?;
        }
        if resp.canceled {
            return self.close(idx);
        }
        Ok(())
    }

    fn close(&mut self, idx: usize) -> CtlResult {
        self.watchers[idx].open = false;
        if self.interactive {
            Ok(())
        } else {
            Err(CtlError::new(
                EXIT_INTERRUPTED,
                "watch is canceled by the server",
            ))
        }
    }

    /// Handles one interactive input line; may add a watcher.
    fn on_line(
        &mut self,
        l: &[u8],
        tx: &mpsc::Sender<WatchRequest>,
        pending: &mut VecDeque<usize>,
    ) -> CtlResult {
        let args = argify(l)?;
        let invalid = |prefix: &str, why: &str| {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(prefix.as_bytes());
            let _ = err.write_all(l);
            let _ = err.write_all(why.as_bytes());
        };
        let Some(first) = args.first() else {
            invalid("Invalid command: ", " (watch and progress supported)\n");
            return Ok(());
        };
        match first.as_slice() {
            b"watch" => {
                if args.len() < 2 && self.env.key.is_empty() {
                    invalid(
                        "Invalid command ",
                        " (command type or key is not provided)\n",
                    );
                    return Ok(());
                }
                let (wargs, exec, opts) = parse_interactive(&args, &self.env)
                    .map_err(|e| CtlError::new(EXIT_BAD_ARGS, e))?;
                match create_request(&wargs, opts) {
                    Ok(req) => {
                        self.watchers.push(Watcher {
                            req,
                            exec,
                            next_rev: 0,
                            open: true,
                        });
                        let idx = self.watchers.len() - 1;
                        pending.push_back(idx);
                        let _ = tx.try_send(self.create(&self.watchers[idx]));
                    }
                    Err(e) => invalid("Invalid command ", &format!(" ({e})\n")),
                }
            }
            b"progress" => {
                let _ = tx.try_send(WatchRequest {
                    request_union: Some(RequestUnion::ProgressRequest(WatchProgressRequest {})),
                });
            }
            _ => invalid("Invalid command ", " (only support watch)\n"),
        }
        Ok(())
    }

    /// Runs one stream until it breaks (`Ok`, time to reconnect) or the
    /// command ends (`Err`).
    async fn stream(
        &mut self,
        client: &mut Client,
        lines: &mut Option<mpsc::UnboundedReceiver<Line>>,
    ) -> CtlResult {
        let deadline = Instant::now() + client.command_timeout();
        let Ok(ch) = client.channel(deadline).await else {
            return Ok(());
        };
        let (tx, rx) = mpsc::channel::<WatchRequest>(64);
        let mut pending = VecDeque::new();
        for (i, w) in self.watchers.iter().enumerate() {
            if w.open {
                pending.push_back(i);
                let _ = tx.try_send(self.create(w));
            }
        }
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        request.metadata_mut().insert(
            "hasleader",
            tonic::metadata::MetadataValue::from_static("true"),
        );
        // The call only completes once the server answers, which it may not
        // do before a watch exists, so it runs beside the input handling.
        let (resp_tx, mut responses) = mpsc::unbounded_channel();
        let call = tokio::spawn(async move {
            if let Ok(resp) = WatchClient::new(ch)
                .max_decoding_message_size(super::client::MAX_RECV_MSG_SIZE)
                .watch(request)
                .await
            {
                let mut inbound = resp.into_inner();
                while let Ok(Some(m)) = inbound.message().await {
                    if resp_tx.send(m).is_err() {
                        return;
                    }
                }
            }
        });
        let _abort = AbortOnDrop(call);
        let mut ids = HashMap::new();
        loop {
            tokio::select! {
                msg = responses.recv() => match msg {
                    Some(r) => self.on_response(r, &mut pending, &mut ids)?,
                    None => return Ok(()),
                },
                line = recv(lines) => match line {
                    Some(Line::Text(l)) => self.on_line(&l, &tx, &mut pending)?,
                    _ => {
                        return Err(CtlError::new(
                            EXIT_INVALID_INPUT,
                            "Error reading watch request line: EOF",
                        ))
                    }
                },
            }
        }
    }
}

/// Receives from the interactive input, or never when there is none.
async fn recv(lines: &mut Option<mpsc::UnboundedReceiver<Line>>) -> Option<Line> {
    match lines {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn watch_forever(session: &mut Session<'_>, client: &mut Client) -> CtlResult {
    let mut lines = session.interactive.then(spawn_stdin_reader);
    loop {
        session.stream(client, &mut lines).await?;
        client.reset();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub fn run(inv: &Invocation) -> CtlResult {
    use std::os::unix::ffi::OsStringExt;
    let env_bytes = |name: &str| {
        std::env::var_os(name)
            .map(|v| v.into_vec())
            .unwrap_or_default()
    };
    let env = Env {
        key: env_bytes("ETCDCTL_WATCH_KEY"),
        range: env_bytes("ETCDCTL_WATCH_RANGE_END"),
    };
    if env.key.is_empty() && !env.range.is_empty() {
        return Err(CtlError::new(
            EXIT_BAD_ARGS,
            format!(
                "ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END={}",
                gofmt::quote(&env.range)
            ),
        ));
    }
    let interactive = inv.flags.get_bool("interactive");
    let mut watchers = Vec::new();
    if !interactive {
        let mut raw = vec![b"etcdctl".to_vec()];
        raw.extend(inv.raw_args.iter().cloned());
        let (wargs, exec) =
            parse_args(&raw, inv.args(), &env).map_err(|e| CtlError::new(EXIT_BAD_ARGS, e))?;
        let setup = global::setup(inv)?;
        let req = create_request(&wargs, Opts::from_flags(&inv.flags))
            .map_err(|e| CtlError::new(EXIT_BAD_ARGS, e))?;
        watchers.push(Watcher {
            req,
            exec,
            next_rev: 0,
            open: true,
        });
        return start(inv, setup, watchers, false, env);
    }
    let setup = global::setup(inv)?;
    start(inv, setup, watchers, true, env)
}

fn start(
    inv: &Invocation,
    setup: global::Setup,
    watchers: Vec<Watcher>,
    interactive: bool,
    env: Env,
) -> CtlResult {
    let mut client = Client::new(setup.conn);
    let mut session = Session {
        printer: setup.printer.as_ref(),
        watchers,
        interactive,
        env,
    };
    inv.block_on(watch_forever(&mut session, &mut client))?
}
