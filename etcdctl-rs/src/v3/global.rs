//! Global flags (inherited by every command), their `ETCDCTL_*` environment
//! variable counterparts, and turning them into a client configuration and
//! an output printer — etcdctl's `clientConfigFromCmd`.

use std::collections::HashSet;
use std::time::Duration;

use super::client::{strip_scheme, ConnConfig};
use super::error::{CtlError, CtlResult, EXIT_BAD_ARGS, EXIT_BAD_FEATURE, EXIT_ERROR};
use super::flags::{FlagSet, Kind, Spec};
use super::printer::{self, Printer};
use super::tls::{self, SecureFlags};
use super::{auth, logline, usage, Invocation};

/// The persistent flags of the root command.
pub const GLOBAL_FLAGS: &[Spec] = &[
    Spec::new("endpoints", Kind::StringSlice, "[127.0.0.1:2379]", "gRPC endpoints"),
    Spec::new("debug", Kind::Bool, "false", "enable client-side debug logging"),
    Spec::new(
        "write-out",
        Kind::String,
        "simple",
        "set the output format (fields, json, protobuf, simple, table)",
    )
    .short('w'),
    Spec::new("hex", Kind::Bool, "false", "print byte strings as hex encoded strings"),
    Spec::new("dial-timeout", Kind::Duration, "2s", "dial timeout for client connections"),
    Spec::new(
        "command-timeout",
        Kind::Duration,
        "5s",
        "timeout for short running command (excluding dial timeout)",
    ),
    Spec::new("keepalive-time", Kind::Duration, "2s", "keepalive time for client connections"),
    Spec::new(
        "keepalive-timeout",
        Kind::Duration,
        "6s",
        "keepalive timeout for client connections",
    ),
    Spec::new(
        "insecure-transport",
        Kind::Bool,
        "true",
        "disable transport security for client connections",
    ),
    Spec::new(
        "insecure-discovery",
        Kind::Bool,
        "true",
        "accept insecure SRV records describing cluster endpoints",
    ),
    Spec::new(
        "insecure-skip-tls-verify",
        Kind::Bool,
        "false",
        "skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)",
    ),
    Spec::new("cert", Kind::String, "", "identify secure client using this TLS certificate file"),
    Spec::new("key", Kind::String, "", "identify secure client using this TLS key file"),
    Spec::new(
        "cacert",
        Kind::String,
        "",
        "verify certificates of TLS-enabled secure servers using this CA bundle",
    ),
    Spec::new(
        "user",
        Kind::String,
        "",
        "username[:password] for authentication (prompt if password is not supplied)",
    ),
    Spec::new(
        "password",
        Kind::String,
        "",
        "password for authentication (if this option is used, --user option shouldn't include password)",
    ),
    Spec::new(
        "discovery-srv",
        Kind::String,
        "",
        "domain name to query for SRV records describing cluster endpoints",
    )
    .short('d'),
    Spec::new(
        "discovery-srv-name",
        Kind::String,
        "",
        "service name to query when using DNS discovery",
    ),
];

/// Everything a client-using command needs from the global flags.
pub struct Setup {
    /// The endpoints as given (scheme included).
    pub endpoints: Vec<String>,
    pub conn: ConnConfig,
    pub printer: Box<dyn Printer>,
    pub hex: bool,
    /// All flags after applying `ETCDCTL_*` variables.
    pub flags: FlagSet,
}

/// pkg/flags' `FlagToEnv`.
fn env_key(name: &str) -> String {
    format!("ETCDCTL_{}", name.replace('-', "_").to_uppercase())
}

/// pkg/flags' `SetPflagsFromEnv` over the inherited flags of the command:
/// unset flags take their `ETCDCTL_*` value, unknown `ETCDCTL_*` variables
/// are warned about, and a variable shadowed by a flag is fatal.
pub fn apply_env(inv: &Invocation) -> CtlResult<FlagSet> {
    let mut flags = inv.flags.clone();
    let mut already_set = HashSet::new();
    let mut used = HashSet::new();
    let mut names: Vec<&str> = usage::inherited_flags(&inv.path)
        .iter()
        .map(|f| f.name)
        .collect();
    names.sort_unstable();
    for name in names {
        let key = env_key(name);
        if flags.changed(name) {
            already_set.insert(key);
            continue;
        }
        if let Some(val) = std::env::var_os(&key) {
            use std::os::unix::ffi::OsStringExt;
            let val = val.into_vec();
            if !val.is_empty() {
                used.insert(key);
                // Like etcdctl, an invalid value is silently ignored.
                let _ = flags.set(name, &val);
            }
        }
    }
    let mut warnings = String::new();
    for (k, v) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k == "ETCDCTL_API" || used.contains(&k) {
            continue;
        }
        if already_set.contains(&k) {
            eprint!("{warnings}");
            let msg = format!(
                "conflicting environment variable {} is shadowed by corresponding command-line flag (either unset environment variable or disable flag)",
                super::gofmt::quote(k.as_bytes())
            );
            return Err(CtlError::raw(
                EXIT_ERROR,
                logline::capnslog('C', "pkg/flags", &msg),
            ));
        }
        if k.starts_with("ETCDCTL_") && !is_silenced(inv, &k) {
            let msg = format!(
                "unrecognized environment variable {k}={}",
                v.to_string_lossy()
            );
            warnings.push_str(&logline::capnslog('W', "pkg/flags", &msg));
        }
    }
    eprint!("{warnings}");
    Ok(flags)
}

/// `watch` reads these itself, so etcdctl does not warn about them.
fn is_silenced(inv: &Invocation, key: &str) -> bool {
    inv.path.last().is_some_and(|c| c.name == "watch")
        && (key == "ETCDCTL_WATCH_KEY" || key == "ETCDCTL_WATCH_RANGE_END")
}

/// etcdctl's `initDisplayFromCmd`.
pub fn display(flags: &FlagSet) -> CtlResult<Box<dyn Printer>> {
    printer::new(&flags.get_string("write-out"), flags.get_bool("hex"))
        .ok_or_else(|| CtlError::new(EXIT_BAD_FEATURE, "unsupported output format"))
}

fn duration(flags: &FlagSet, name: &str) -> Duration {
    Duration::from_nanos(flags.get_duration(name).max(0) as u64)
}

/// The secure-connection flags.
fn secure_flags(flags: &FlagSet) -> SecureFlags {
    SecureFlags {
        cert: flags.get_string("cert"),
        key: flags.get_string("key"),
        cacert: flags.get_string("cacert"),
        insecure_transport: flags.get_bool("insecure-transport"),
        insecure_skip_verify: flags.get_bool("insecure-skip-tls-verify"),
    }
}

/// Connection settings from (env-applied) flags, TLS included (bad TLS
/// files end etcdctl with exit code 128, as `newClientCfg` does); no token.
pub fn conn_config(flags: &FlagSet) -> CtlResult<ConnConfig> {
    Ok(ConnConfig {
        endpoints: flags
            .get_slice("endpoints")
            .iter()
            .map(|e| strip_scheme(e).to_string())
            .collect(),
        dial_timeout: duration(flags, "dial-timeout"),
        command_timeout: duration(flags, "command-timeout"),
        keepalive_time: duration(flags, "keepalive-time"),
        keepalive_timeout: duration(flags, "keepalive-timeout"),
        tls: tls::client_config(&secure_flags(flags))?,
        token: None,
    })
}

/// etcdctl's checks of the TLS file flags.
fn check_tls_flags(flags: &FlagSet) -> CtlResult {
    for name in ["cert", "key", "cacert"] {
        if flags.changed(name) && flags.get_string(name).is_empty() {
            return Err(CtlError::new(
                EXIT_BAD_ARGS,
                format!("empty string is passed to --{name} option"),
            ));
        }
    }
    Ok(())
}

/// Rejects what etcdctl-rs cannot do yet: DNS discovery.
fn check_supported(flags: &FlagSet) -> CtlResult {
    if !flags.get_string("discovery-srv").is_empty() {
        return Err(CtlError::new(
            EXIT_ERROR,
            "etcdctl-rs: DNS discovery (--discovery-srv) is not supported yet",
        ));
    }
    Ok(())
}

/// etcdctl's `clientConfigFromCmd` followed by the checks `mustClient` does.
pub fn setup(inv: &Invocation) -> CtlResult<Setup> {
    let flags = apply_env(inv)?;
    if flags.get_bool("debug") {
        let mut names: Vec<&str> = usage::inherited_flags(&inv.path)
            .iter()
            .map(|f| f.name)
            .collect();
        names.sort_unstable();
        for name in names {
            eprintln!("{}={}", env_key(name), flags.display(name));
        }
    }
    check_tls_flags(&flags)?;
    let credentials = auth::credentials(&flags)?;
    let printer = display(&flags)?;
    check_supported(&flags)?;
    let mut conn = conn_config(&flags)?;
    if let Some((name, password)) = credentials {
        conn.token = inv.block_on(auth::token(&conn, &name, &password))??;
    }
    Ok(Setup {
        endpoints: flags.get_slice("endpoints"),
        conn,
        printer,
        hex: flags.get_bool("hex"),
        flags,
    })
}
