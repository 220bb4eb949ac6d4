//! The arguments of `etcdctl watch`, on the command line and on an
//! interactive `watch ...` line: etcdctl's `parseWatchArgs` (the key and
//! range end, the command after `--`, `ETCDCTL_WATCH_KEY` and
//! `ETCDCTL_WATCH_RANGE_END`) and `getWatchChan`'s checks.

use etcd_proto::etcdserverpb::WatchCreateRequest;

use crate::v3::commands::WATCH_FLAGS;
use crate::v3::flags::FlagSet;
use crate::v3::util::prefix_end;
use crate::v3::Args;

const BAD_ARGS_NUM: &str = "bad number of arguments";
const BAD_ARGS_CONFLICT_ENV: &str = "bad number of arguments (found conflicting environment key)";
const BAD_ARGS_SEPARATOR: &str = "bad number of arguments (found separator --, but no commands)";

/// The options of one watch (etcdctl's watchPrefix/watchRev/watchPrevKey).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Opts {
    pub prefix: bool,
    pub rev: i64,
    pub prev_kv: bool,
}

impl Opts {
    pub(super) fn from_flags(f: &FlagSet) -> Self {
        Opts {
            prefix: f.get_bool("prefix"),
            rev: f.get_i64("rev"),
            prev_kv: f.get_bool("prev-kv"),
        }
    }
}

/// Environment-provided key and range end.
#[derive(Debug, Clone, Default)]
pub(super) struct Env {
    pub key: Vec<u8>,
    pub range: Vec<u8>,
}

impl Env {
    fn prepend(&self, args: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        if self.key.is_empty() {
            return args;
        }
        let mut out = vec![self.key.clone()];
        if !self.range.is_empty() {
            out.push(self.range.clone());
        }
        out.extend(args);
        out
    }
}

/// Drops everything from the first exec argument on (etcdctl's `endIdx`).
fn cut_exec(watch_args: Vec<Vec<u8>>, first_exec: &[u8]) -> Vec<Vec<u8>> {
    let end = watch_args
        .iter()
        .rposition(|a| a == first_exec)
        .unwrap_or(watch_args.len());
    watch_args[..end].to_vec()
}

/// `parseWatchArgs` for the command line: `raw` are the process arguments,
/// `args` the positional arguments cobra left.
pub(super) fn parse_args(
    raw: &[Vec<u8>],
    args: &[Vec<u8>],
    env: &Env,
) -> Result<(Args, Args), String> {
    let raw: Vec<Vec<u8>> = match raw.iter().position(|a| a == b"watch") {
        Some(i) => raw[i + 1..].to_vec(),
        None => raw.to_vec(),
    };
    let exec_idx = raw.iter().position(|a| a == b"--");
    if exec_idx == Some(raw.len().wrapping_sub(1)) {
        return Err(BAD_ARGS_SEPARATOR.into());
    }
    if exec_idx.is_none() && raw.is_empty() && env.key.is_empty() {
        return Err(BAD_ARGS_NUM.into());
    }
    if let (Some(exec_idx), false) = (exec_idx, env.key.is_empty()) {
        let mut ridx = raw.len() as isize - 1;
        for w in args.iter().rev() {
            if ridx < 0 {
                break;
            }
            if *w == raw[ridx as usize] {
                ridx -= 1;
                continue;
            }
            if ridx == exec_idx as isize {
                return Err(BAD_ARGS_CONFLICT_ENV.into());
            }
        }
    }
    if exec_idx.is_none() && !args.is_empty() && !env.key.is_empty() {
        return Err(BAD_ARGS_CONFLICT_ENV.into());
    }
    let watch_args = env.prepend(args.to_vec());
    match exec_idx {
        None => Ok((watch_args, Vec::new())),
        Some(i) => {
            let exec = raw[i + 1..].to_vec();
            Ok((cut_exec(watch_args, &exec[0]), exec))
        }
    }
}

/// `parseWatchArgs` for an interactive `watch ...` line.
pub(super) fn parse_interactive(
    line_args: &[Vec<u8>],
    env: &Env,
) -> Result<(Args, Args, Opts), Vec<u8>> {
    let args = &line_args[1..];
    let exec_idx = args.iter().position(|a| a == b"--");
    if exec_idx == Some(args.len().wrapping_sub(1)) {
        return Err(BAD_ARGS_SEPARATOR.into());
    }
    let mut fs = FlagSet::new(WATCH_FLAGS);
    fs.parse(args)?;
    if exec_idx.is_none() && env.key.is_empty() && fs.args.is_empty() {
        return Err(BAD_ARGS_NUM.into());
    }
    if exec_idx.is_none() && !fs.args.is_empty() && !env.key.is_empty() {
        return Err(BAD_ARGS_CONFLICT_ENV.into());
    }
    let opts = Opts::from_flags(&fs);
    let watch_args = env.prepend(fs.args.clone());
    match exec_idx {
        None => Ok((watch_args, Vec::new(), opts)),
        Some(i) => {
            let exec = args[i + 1..].to_vec();
            Ok((cut_exec(watch_args, &exec[0]), exec, opts))
        }
    }
}

/// etcdctl's `getWatchChan` checks, producing the create request.
pub(super) fn create_request(args: &[Vec<u8>], opts: Opts) -> Result<WatchCreateRequest, String> {
    let Some(key) = args.first() else {
        return Err(BAD_ARGS_NUM.into());
    };
    let mut req = WatchCreateRequest {
        key: key.clone(),
        start_revision: opts.rev,
        prev_kv: opts.prev_kv,
        ..Default::default()
    };
    if args.len() == 2 {
        if opts.prefix {
            return Err("`range_end` and `--prefix` are mutually exclusive".into());
        }
        req.range_end = args[1].clone();
    }
    if opts.prefix {
        if req.key.is_empty() {
            req.key = vec![0];
            req.range_end = vec![0];
        } else {
            req.range_end = prefix_end(&req.key);
        }
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|x| x.as_bytes().to_vec()).collect()
    }

    #[test]
    fn splits_exec_args() {
        let env = Env::default();
        let (w, e) = parse_args(
            &s(&["etcdctl", "watch", "foo", "--rev", "1", "--", "echo", "hi"]),
            &s(&["foo", "echo", "hi"]),
            &env,
        )
        .unwrap();
        assert_eq!(w, s(&["foo"]));
        assert_eq!(e, s(&["echo", "hi"]));
        assert_eq!(
            parse_args(&s(&["etcdctl", "watch", "foo", "--"]), &s(&["foo"]), &env).unwrap_err(),
            BAD_ARGS_SEPARATOR
        );
        assert_eq!(
            parse_args(&s(&["etcdctl", "watch"]), &[], &env).unwrap_err(),
            BAD_ARGS_NUM
        );
    }

    #[test]
    fn env_key_conflicts() {
        let env = Env {
            key: b"foo".to_vec(),
            range: Vec::new(),
        };
        assert_eq!(
            parse_args(&s(&["etcdctl", "watch", "bar"]), &s(&["bar"]), &env).unwrap_err(),
            BAD_ARGS_CONFLICT_ENV
        );
        let (w, _) = parse_args(&s(&["etcdctl", "watch"]), &[], &env).unwrap();
        assert_eq!(w, s(&["foo"]));
    }

    #[test]
    fn interactive_lines() {
        let env = Env::default();
        let (w, e, o) =
            parse_interactive(&s(&["watch", "a", "--prefix", "--", "echo"]), &env).unwrap();
        assert_eq!(w, s(&["a"]));
        assert_eq!(e, s(&["echo"]));
        assert!(o.prefix);
        let req = create_request(&w, o).unwrap();
        assert_eq!(req.range_end, b"b");
        assert!(create_request(&s(&["a", "b"]), o).is_err());
    }
}
