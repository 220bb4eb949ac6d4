//! What every v2 verb needs: the parsed global and command flags, the
//! HTTP client built from them (endpoints from flags or `ETCDCTL_*`
//! variables, TLS files, credentials, timeouts, the initial endpoint sync)
//! and the way errors end the process (`Error:  ...` and exit codes).

use std::io::BufRead;
use std::time::{Duration, Instant};

use super::cli::Parsed;
use super::client::{Client, ClientError, Endpoint, Request};
use super::keys::ApiError;
use super::tls::tls_config;

pub const EXIT_BAD_ARGS: i32 = 1;
pub const EXIT_BAD_CONNECTION: i32 = 2;
pub const EXIT_SERVER_ERROR: i32 = 4;
pub const EXIT_CLUSTER_NOT_HEALTHY: i32 = 5;

/// A failed command: what to print on stderr and the exit code.
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    pub stderr: String,
}

impl Exit {
    pub fn new(code: i32, stderr: String) -> Exit {
        Exit { code, stderr }
    }

    /// Prints the message and returns the exit code.
    pub fn report(self) -> i32 {
        eprint!("{}", self.stderr);
        self.code
    }
}

/// Go's `handleError`: `Error:  <err>` plus the cluster error detail.
pub fn handle_error(code: i32, err: &ApiError) -> Exit {
    let mut s = format!("Error:  {err}\n");
    if let ApiError::Client(c) = err {
        if let Some(detail) = c.detail() {
            s.push_str(&detail);
            s.push('\n');
        }
    }
    Exit::new(code, s)
}

/// A plain message line, exit code 1 (the auth and member commands).
pub fn fail(msg: impl std::fmt::Display) -> Exit {
    Exit::new(1, format!("{msg}\n"))
}

/// The flags of one invocation.
pub struct Ctx {
    pub global: Parsed,
    pub flags: Parsed,
}

impl Ctx {
    pub fn new(global: Parsed, flags: Parsed) -> Ctx {
        Ctx { global, flags }
    }

    pub fn args(&self) -> &[String] {
        &self.flags.args
    }

    pub fn output(&self) -> String {
        self.global.string("output")
    }

    fn global_or_env(&self, flag: &str, env: &str) -> String {
        let v = self.global.string(flag);
        if v.is_empty() {
            std::env::var(env).unwrap_or_default()
        } else {
            v
        }
    }

    fn endpoints(&self) -> Result<Vec<Endpoint>, Exit> {
        let mut list = String::new();
        for (flag, env) in [
            ("endpoints", "ETCDCTL_ENDPOINTS"),
            ("endpoint", "ETCDCTL_ENDPOINT"),
            ("peers", "ETCDCTL_PEERS"),
        ] {
            if list.is_empty() {
                list = self.global_or_env(flag, env);
            }
        }
        if list.is_empty() {
            list = "http://127.0.0.1:2379,http://127.0.0.1:4001".into();
        }
        list.split(',')
            .map(|e| Endpoint::parse(e).map_err(|err| Exit::new(1, format!("{err}\n"))))
            .collect()
    }

    fn total_timeout(&self) -> Duration {
        self.global.duration("total-timeout")
    }

    /// Go's `newClient`: endpoints, transport and credentials.
    fn new_client(&self) -> Result<Client, Exit> {
        let endpoints = self.endpoints()?;
        let tls = tls_config(
            &self.global_or_env("ca-file", "ETCDCTL_CA_FILE"),
            &self.global_or_env("cert-file", "ETCDCTL_CERT_FILE"),
            &self.global_or_env("key-file", "ETCDCTL_KEY_FILE"),
        )
        .map_err(|e| Exit::new(1, format!("{e}\n")))?;
        let user = self.global_or_env("username", "ETCDCTL_USERNAME");
        let credentials = if user.is_empty() {
            None
        } else {
            Some(username_password("Password: ", &user))
        };
        let mut client = Client::new(
            endpoints,
            tls,
            self.global.duration("timeout"),
            credentials,
            self.global.bool("debug"),
        );
        let total = self.total_timeout();
        if !total.is_zero() && total < client.dial_timeout {
            client.dial_timeout = total;
        }
        Ok(client)
    }

    /// Sets the command deadline (`--total-timeout`).
    pub fn start_deadline(&self, c: &mut Client) {
        c.deadline = Some(Instant::now() + self.total_timeout());
    }

    /// Go's `mustNewClient`: a client whose endpoints were synced from the
    /// cluster's member list unless `--no-sync`.
    pub async fn client(&self) -> Result<Client, Exit> {
        let mut c = self.new_client()?;
        let debug = c.debug;
        if !self.global.bool("no-sync") {
            if debug {
                eprintln!(
                    "start to sync cluster using endpoints({})",
                    c.endpoint_list(",")
                );
            }
            self.start_deadline(&mut c);
            let synced = sync(&mut c).await;
            c.deadline = None;
            match synced {
                Ok(()) => {}
                Err(SyncError::NoEndpoints) => {
                    let mut s = String::from("etcd cluster has no published client endpoints.\n");
                    s.push_str(&format!("Try '--no-sync' if you want to access non-published client endpoints({}).\n", c.endpoint_list(",")));
                    s.push_str("Error:  client: no endpoints available\n");
                    return Err(Exit::new(EXIT_SERVER_ERROR, s));
                }
                Err(SyncError::Client(e)) if e.is_connection_error() => {
                    return Err(handle_error(EXIT_BAD_CONNECTION, &ApiError::Client(e)));
                }
                Err(SyncError::Client(_)) => {}
            }
            if debug {
                eprintln!("got endpoints({}) after sync", c.endpoint_list(","));
            }
        }
        if debug {
            eprintln!("Cluster-Endpoints: {}", c.endpoint_list(", "));
        }
        Ok(c)
    }

    /// The client of the auth commands, which report the endpoints twice
    /// under `--debug`.
    pub async fn auth_client(&self) -> Result<Client, Exit> {
        let c = self.client().await?;
        if c.debug {
            eprintln!("Cluster-Endpoints: {}", c.endpoint_list(", "));
        }
        Ok(c)
    }

    /// Go's `mustNewClientNoSync`.
    pub fn client_no_sync(&self) -> Result<Client, Exit> {
        let c = self.new_client()?;
        if c.debug {
            eprintln!("Cluster-Endpoints: {}", c.endpoint_list(", "));
        }
        Ok(c)
    }
}

enum SyncError {
    NoEndpoints,
    Client(ClientError),
}

/// Replaces the endpoints with the client URLs of the cluster's members.
async fn sync(c: &mut Client) -> Result<(), SyncError> {
    let members = super::member::fetch_members(c).await.map_err(|e| match e {
        ApiError::Client(e) => SyncError::Client(e),
        other => SyncError::Client(ClientError::Other(other.to_string())),
    })?;
    let urls: Vec<Endpoint> = members
        .iter()
        .flat_map(|m| m.client_urls.iter())
        .filter_map(|u| Endpoint::parse(u).ok())
        .collect();
    if urls.is_empty() {
        return Err(SyncError::NoEndpoints);
    }
    c.endpoints = urls;
    Ok(())
}

/// Splits `user[:password]`, asking for the password when missing.
pub fn username_password(prompt: &str, flag: &str) -> (String, String) {
    match flag.split_once(':') {
        Some((u, p)) => (u.to_string(), p.to_string()),
        None => {
            print!("{prompt}");
            let _ = std::io::Write::flush(&mut std::io::stdout());
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            println!();
            (
                flag.to_string(),
                line.trim_end_matches(['\r', '\n']).to_string(),
            )
        }
    }
}

/// An HTTP call with the command deadline; for the auth and member APIs.
pub async fn call(
    ctx: &Ctx,
    c: &mut Client,
    req: Request,
) -> Result<super::client::Answer, ClientError> {
    ctx.start_deadline(c);
    c.call(&req).await
}
