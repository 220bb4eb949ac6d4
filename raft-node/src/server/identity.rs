//! Who a request runs as: etcd's `AuthInfoFromCtx`.
//!
//! While auth is off every request runs as nobody and nothing is checked.
//! While it is on: a `token` (or `authorization`) metadata entry must be a
//! live token, else the request fails with "invalid auth token"; without
//! one, and with `--client-cert-auth`, the verified client certificate's
//! common name is the user; otherwise the request runs as nobody, which
//! every check refuses with "user name is empty". The auth revision in the
//! result is what the request's permissions were checked against.

use std::time::Duration;

use etcd_proto::etcdrs::AuthInfo;
use etcd_store::auth::AuthError;
use tonic::metadata::MetadataMap;

use super::EtcdServer;
use crate::auth::tokens::{SimpleTokens, TokenProvider};
use crate::auth::ClientCommonName;
use crate::error::ServerError;

/// How long a member waits to apply the entry a simple token came from.
const TOKEN_APPLY_WAIT: Duration = Duration::from_secs(5);

impl EtcdServer {
    /// Resolves the user of a request from its metadata and verified client
    /// certificate (see the module docs).
    pub async fn resolve_identity(
        &self,
        metadata: &MetadataMap,
        common_name: Option<&ClientCommonName>,
    ) -> Result<AuthInfo, ServerError> {
        let server = self;
        let (enabled, revision) = server.store.auth_status();
        if !enabled {
            return Ok(AuthInfo::default());
        }
        let token = metadata
            .get("token")
            .or_else(|| metadata.get("authorization"))
            .and_then(|v| v.to_str().ok());
        if let Some(token) = token {
            let invalid = || ServerError::from(AuthError::InvalidAuthToken);
            return match server.tokens.as_ref() {
                TokenProvider::Simple(simple) => {
                    let user = match simple.lookup(token) {
                        Some(u) => u,
                        None => {
                            // Issued by an entry this member may not have
                            // applied yet: wait for it, then look again.
                            let at = SimpleTokens::issued_at(token).ok_or_else(invalid)?;
                            if *server.applied_rx.borrow() >= at {
                                return Err(invalid());
                            }
                            let mut applied = server.applied_rx.clone();
                            let _ = tokio::time::timeout(
                                TOKEN_APPLY_WAIT,
                                applied.wait_for(|a| *a >= at),
                            )
                            .await;
                            simple.lookup(token).ok_or_else(invalid)?
                        }
                    };
                    Ok(AuthInfo {
                        username: user,
                        revision: server.store.auth_status().1,
                    })
                }
                TokenProvider::Jwt(jwt) => {
                    let (username, revision) = jwt.verify(token).ok_or_else(invalid)?;
                    Ok(AuthInfo { username, revision })
                }
            };
        }
        if server.config.client_cert_auth {
            if let Some(cn) = common_name {
                return Ok(AuthInfo {
                    username: cn.0.clone(),
                    revision,
                });
            }
        }
        Ok(AuthInfo::default())
    }
}
