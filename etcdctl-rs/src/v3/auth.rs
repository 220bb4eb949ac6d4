//! `etcdctl auth enable|disable`, and the global `--user`/`--password`
//! flags: the credentials are exchanged for a token (`Authenticate`) before
//! the command runs, and the token travels as `token` metadata with every
//! request (see [`super::client::TokenInterceptor`]).

use etcd_proto::etcdserverpb::auth_client::AuthClient;
use etcd_proto::etcdserverpb::{
    AuthDisableRequest, AuthEnableRequest, AuthRoleAddRequest, AuthUserGrantRoleRequest,
    AuthenticateRequest,
};

use super::client::{auth_stub, Client, Conn, ConnConfig, RpcError};
use super::error::{CtlError, CtlResult, EXIT_BAD_ARGS, EXIT_BAD_CONNECTION, EXIT_ERROR};
use super::flags::FlagSet;
use super::printer::AuthResult;
use super::util::{print, rpc, rpc_failure, setup_and_call};
use super::{global, password, Invocation};

/// The server's answer when a token is asked for while auth is off;
/// clientv3 then goes on without a token.
const AUTH_NOT_ENABLED: &str = "etcdserver: authentication is not enabled";

/// The server's refusal to enable auth while `root` lacks the root role;
/// etcdctl then creates the role, grants it and tries again.
const ROOT_ROLE_MISSING: &str = "etcdserver: root user does not have root role";

/// User name and password from the global flags (etcdctl's `authCfgFromCmd`):
/// `--user name:password`, `--user name --password pw`, or `--user name`
/// and a prompt.
pub fn credentials(flags: &FlagSet) -> CtlResult<Option<(String, String)>> {
    let user = flags.get_string("user");
    if user.is_empty() {
        return Ok(None);
    }
    let password = flags.get_string("password");
    if !password.is_empty() {
        return Ok(Some((user, password)));
    }
    match user.split_once(':') {
        Some((name, pw)) => Ok(Some((name.to_string(), pw.to_string()))),
        None => {
            let pw = password::ask("Password: ")
                .map_err(|e| CtlError::new(EXIT_ERROR, e.to_string()))?;
            Ok(Some((user, pw)))
        }
    }
}

/// clientv3's `getToken` at dial time: an empty name or password means no
/// authentication; "auth not enabled" means no token; any other failure
/// ends etcdctl with `ExitBadConnection`.
pub async fn token(conn: &ConnConfig, name: &str, password: &str) -> CtlResult<Option<String>> {
    if name.is_empty() || password.is_empty() {
        return Ok(None);
    }
    let mut cfg = conn.clone();
    cfg.token = None;
    cfg.command_timeout = cfg.dial_timeout;
    let mut client = Client::new(cfg);
    let req = AuthenticateRequest {
        name: name.to_string(),
        password: password.to_string(),
    };
    let result = client
        .call(auth_stub, false, &req, |mut c, r| async move {
            c.authenticate(r).await
        })
        .await;
    match result {
        Ok(resp) => Ok(Some(resp.token)),
        Err(e) if e.message() == AUTH_NOT_ENABLED => Ok(None),
        Err(e) => Err(CtlError::new(EXIT_BAD_CONNECTION, e.message())),
    }
}

/// One Auth RPC of a `user` or `role` command, run and printed: connect
/// with the global flags, call (retried only if `idempotent`), print the
/// printer's line for `result(response)`.
pub fn auth_command<'a, Req, T, F, Fut>(
    inv: &Invocation,
    idempotent: bool,
    req: Req,
    call: F,
    result: impl FnOnce(T) -> AuthResult<'a>,
) -> CtlResult
where
    Req: prost::Message + Clone,
    F: Fn(AuthClient<Conn>, Req) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let (setup, resp) = setup_and_call(inv, auth_stub, idempotent, req, call)?;
    print(|o| setup.printer.auth(o, &result(resp)))
}

fn no_args(inv: &Invocation, cmd: &str) -> CtlResult {
    if inv.args().is_empty() {
        Ok(())
    } else {
        Err(CtlError::new(
            EXIT_BAD_ARGS,
            format!("auth {cmd} command does not accept any arguments"),
        ))
    }
}

/// `AuthEnable`, creating and granting the root role when that is what
/// the server is missing (etcdctl's retry loop).
async fn enable(client: &mut Client) -> Result<(), RpcError> {
    loop {
        let err = match client
            .call(
                auth_stub,
                false,
                &AuthEnableRequest {},
                |mut c, r| async move { c.auth_enable(r).await },
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if err.message() != ROOT_ROLE_MISSING {
            return Err(err);
        }
        let root_role = AuthRoleAddRequest {
            name: "root".into(),
        };
        client
            .call(auth_stub, false, &root_role, |mut c, r| async move {
                c.role_add(r).await
            })
            .await?;
        let grant = AuthUserGrantRoleRequest {
            user: "root".into(),
            role: "root".into(),
        };
        client
            .call(auth_stub, false, &grant, |mut c, r| async move {
                c.user_grant_role(r).await
            })
            .await?;
    }
}

pub fn enable_command(inv: &Invocation) -> CtlResult {
    no_args(inv, "enable")?;
    let setup = global::setup(inv)?;
    let mut client = Client::new(setup.conn);
    inv.block_on(enable(&mut client))?
        .map_err(rpc_failure(EXIT_ERROR))?;
    println!("Authentication Enabled");
    Ok(())
}

pub fn disable_command(inv: &Invocation) -> CtlResult {
    no_args(inv, "disable")?;
    let setup = global::setup(inv)?;
    let mut client = Client::new(setup.conn);
    rpc(
        inv,
        &mut client,
        auth_stub,
        false,
        AuthDisableRequest {},
        |mut c, r| async move { c.auth_disable(r).await },
    )?;
    println!("Authentication Disabled");
    Ok(())
}
