//! Auth service: turning auth on and off, logging in, and managing users,
//! roles and permissions.
//!
//! Every change goes through the raft log (so every member holds the same
//! users and roles) as the user who asked, and only the root role may make
//! one while auth is on; the store checks that again when applying. Reads
//! (user/role get and list) are served locally after a read barrier.
//! Passwords are hashed with bcrypt here, before proposing: the log and the
//! WAL only ever see the hash. Authenticate checks the password here too,
//! then replicates the login so every member knows the simple token it
//! yields; with JWT tokens the token is signed after the login applied.

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::{AuthInfo, AuthenticateApply};
use etcd_proto::etcdserverpb::auth_server::Auth;
use etcd_proto::etcdserverpb::{
    AuthDisableRequest, AuthDisableResponse, AuthEnableRequest, AuthEnableResponse,
    AuthRoleAddRequest, AuthRoleAddResponse, AuthRoleDeleteRequest, AuthRoleDeleteResponse,
    AuthRoleGetRequest, AuthRoleGetResponse, AuthRoleGrantPermissionRequest,
    AuthRoleGrantPermissionResponse, AuthRoleListRequest, AuthRoleListResponse,
    AuthRoleRevokePermissionRequest, AuthRoleRevokePermissionResponse, AuthStatusRequest,
    AuthStatusResponse, AuthUserAddRequest, AuthUserAddResponse, AuthUserChangePasswordRequest,
    AuthUserChangePasswordResponse, AuthUserDeleteRequest, AuthUserDeleteResponse,
    AuthUserGetRequest, AuthUserGetResponse, AuthUserGrantRoleRequest, AuthUserGrantRoleResponse,
    AuthUserListRequest, AuthUserListResponse, AuthUserRevokeRoleRequest,
    AuthUserRevokeRoleResponse, AuthenticateRequest, AuthenticateResponse, ResponseHeader,
};
use etcd_store::auth::AuthError;
use etcd_store::Applied;
use tonic::{Request, Response, Status};

use super::Shared;
use crate::auth::password;
use crate::auth::tokens::SimpleTokens;
use crate::auth::TokenProvider;
use crate::error::ServerError;

pub struct AuthService {
    pub server: Shared,
}

impl AuthService {
    /// Proposes an auth change as the requesting user; answers the header.
    async fn change<T>(&self, req: &Request<T>, op: Op) -> Result<Option<ResponseHeader>, Status> {
        let auth = self.server.auth_info(req).await?;
        match self.server.propose_as(op, auth).await? {
            Applied::Auth { .. } => Ok(Some(self.server.header())),
            _ => Err(ServerError::Internal("unexpected apply result".into()).into()),
        }
    }

    /// Who asks, after a read barrier (for the local reads below).
    async fn reader<T>(&self, req: &Request<T>) -> Result<AuthInfo, Status> {
        let info = self.server.auth_info(req).await?;
        self.server.read_barrier().await?;
        Ok(info)
    }

    fn hash_cost(&self) -> u32 {
        password::effective_cost(self.server.config.bcrypt_cost)
    }
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn auth_status(
        &self,
        _req: Request<AuthStatusRequest>,
    ) -> Result<Response<AuthStatusResponse>, Status> {
        let (enabled, auth_revision) = self.server.store.auth_status();
        Ok(Response::new(AuthStatusResponse {
            header: Some(self.server.header()),
            enabled,
            auth_revision,
        }))
    }

    async fn auth_enable(
        &self,
        req: Request<AuthEnableRequest>,
    ) -> Result<Response<AuthEnableResponse>, Status> {
        let header = self
            .change(&req, Op::AuthEnable(AuthEnableRequest {}))
            .await?;
        Ok(Response::new(AuthEnableResponse { header }))
    }

    async fn auth_disable(
        &self,
        req: Request<AuthDisableRequest>,
    ) -> Result<Response<AuthDisableResponse>, Status> {
        let header = self
            .change(&req, Op::AuthDisable(AuthDisableRequest {}))
            .await?;
        Ok(Response::new(AuthDisableResponse { header }))
    }

    async fn authenticate(
        &self,
        req: Request<AuthenticateRequest>,
    ) -> Result<Response<AuthenticateResponse>, Status> {
        let r = req.into_inner();
        let stored = self.server.store.with_auth(|a| {
            if !a.enabled {
                return Err(AuthError::AuthNotEnabled);
            }
            match a.users.get(&r.name) {
                Some(u) if !u.no_password => Ok(u.password_hash.clone()),
                _ => Err(AuthError::AuthFailed),
            }
        });
        let hash = stored.map_err(ServerError::from)?;
        if !password::verify(r.password, hash).await {
            return Err(ServerError::from(AuthError::AuthFailed).into());
        }
        let token_prefix = match self.server.tokens.as_ref() {
            TokenProvider::Simple(_) => SimpleTokens::gen_prefix(),
            TokenProvider::Jwt(_) => String::new(),
        };
        let login = AuthenticateApply {
            name: r.name,
            token_prefix,
        };
        let Applied::Authenticated { user, token } =
            self.server.propose(Op::Authenticate(login)).await?
        else {
            return Err(ServerError::Internal("unexpected apply result".into()).into());
        };
        let token = match self.server.tokens.as_ref() {
            TokenProvider::Simple(_) => token,
            TokenProvider::Jwt(jwt) => jwt
                .issue(&user, self.server.store.auth_status().1)
                .map_err(ServerError::Internal)?,
        };
        Ok(Response::new(AuthenticateResponse {
            header: Some(self.server.header()),
            token,
        }))
    }

    async fn user_add(
        &self,
        req: Request<AuthUserAddRequest>,
    ) -> Result<Response<AuthUserAddResponse>, Status> {
        if req.get_ref().name.is_empty() {
            return Err(ServerError::from(AuthError::UserEmpty).into());
        }
        // Refuse before paying for a hash.
        let auth = self.server.auth_info(&req).await?;
        self.server
            .store
            .with_auth(|a| a.check_admin(&auth))
            .map_err(ServerError::from)?;
        let mut add = req.get_ref().clone();
        let no_password = add.options.as_ref().is_some_and(|o| o.no_password);
        let plain = std::mem::take(&mut add.password);
        if !no_password && add.hashed_password.is_empty() {
            add.hashed_password = password::hash(plain, self.hash_cost()).await?;
        }
        let header = self.change(&req, Op::UserAdd(add)).await?;
        Ok(Response::new(AuthUserAddResponse { header }))
    }

    async fn user_get(
        &self,
        req: Request<AuthUserGetRequest>,
    ) -> Result<Response<AuthUserGetResponse>, Status> {
        let info = self.reader(&req).await?;
        let name = &req.get_ref().name;
        let roles = self
            .server
            .store
            .with_auth(|a| {
                // Users may look themselves up; anyone else needs root.
                if info.username != *name {
                    a.check_admin(&info)?;
                }
                a.user_roles(name)
            })
            .map_err(ServerError::from)?;
        Ok(Response::new(AuthUserGetResponse {
            header: Some(self.server.header()),
            roles,
        }))
    }

    async fn user_list(
        &self,
        req: Request<AuthUserListRequest>,
    ) -> Result<Response<AuthUserListResponse>, Status> {
        let info = self.reader(&req).await?;
        let users = self
            .server
            .store
            .with_auth(|a| {
                a.check_admin(&info)?;
                Ok::<_, AuthError>(a.users.keys().cloned().collect())
            })
            .map_err(ServerError::from)?;
        Ok(Response::new(AuthUserListResponse {
            header: Some(self.server.header()),
            users,
        }))
    }

    async fn user_delete(
        &self,
        req: Request<AuthUserDeleteRequest>,
    ) -> Result<Response<AuthUserDeleteResponse>, Status> {
        let header = self
            .change(&req, Op::UserDelete(req.get_ref().clone()))
            .await?;
        Ok(Response::new(AuthUserDeleteResponse { header }))
    }

    async fn user_change_password(
        &self,
        req: Request<AuthUserChangePasswordRequest>,
    ) -> Result<Response<AuthUserChangePasswordResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        self.server
            .store
            .with_auth(|a| a.check_admin(&auth))
            .map_err(ServerError::from)?;
        let mut change = req.get_ref().clone();
        let plain = std::mem::take(&mut change.password);
        if change.hashed_password.is_empty() {
            change.hashed_password = password::hash(plain, self.hash_cost()).await?;
        }
        let header = self.change(&req, Op::UserChangePassword(change)).await?;
        Ok(Response::new(AuthUserChangePasswordResponse { header }))
    }

    async fn user_grant_role(
        &self,
        req: Request<AuthUserGrantRoleRequest>,
    ) -> Result<Response<AuthUserGrantRoleResponse>, Status> {
        let header = self
            .change(&req, Op::UserGrantRole(req.get_ref().clone()))
            .await?;
        Ok(Response::new(AuthUserGrantRoleResponse { header }))
    }

    async fn user_revoke_role(
        &self,
        req: Request<AuthUserRevokeRoleRequest>,
    ) -> Result<Response<AuthUserRevokeRoleResponse>, Status> {
        let header = self
            .change(&req, Op::UserRevokeRole(req.get_ref().clone()))
            .await?;
        Ok(Response::new(AuthUserRevokeRoleResponse { header }))
    }

    async fn role_add(
        &self,
        req: Request<AuthRoleAddRequest>,
    ) -> Result<Response<AuthRoleAddResponse>, Status> {
        let header = self
            .change(&req, Op::RoleAdd(req.get_ref().clone()))
            .await?;
        Ok(Response::new(AuthRoleAddResponse { header }))
    }

    async fn role_get(
        &self,
        req: Request<AuthRoleGetRequest>,
    ) -> Result<Response<AuthRoleGetResponse>, Status> {
        let info = self.reader(&req).await?;
        let role = &req.get_ref().role;
        let perm = self
            .server
            .store
            .with_auth(|a| {
                // Holders of a role may look it up; anyone else needs root.
                let holds = a
                    .users
                    .get(&info.username)
                    .is_some_and(|u| u.roles.contains(role));
                if !holds {
                    a.check_admin(&info)?;
                }
                a.role_permissions(role)
            })
            .map_err(ServerError::from)?;
        Ok(Response::new(AuthRoleGetResponse {
            header: Some(self.server.header()),
            perm,
        }))
    }

    async fn role_list(
        &self,
        req: Request<AuthRoleListRequest>,
    ) -> Result<Response<AuthRoleListResponse>, Status> {
        let info = self.reader(&req).await?;
        let roles = self
            .server
            .store
            .with_auth(|a| {
                a.check_admin(&info)?;
                Ok::<_, AuthError>(a.roles.keys().cloned().collect())
            })
            .map_err(ServerError::from)?;
        Ok(Response::new(AuthRoleListResponse {
            header: Some(self.server.header()),
            roles,
        }))
    }

    async fn role_delete(
        &self,
        req: Request<AuthRoleDeleteRequest>,
    ) -> Result<Response<AuthRoleDeleteResponse>, Status> {
        let header = self
            .change(&req, Op::RoleDelete(req.get_ref().clone()))
            .await?;
        Ok(Response::new(AuthRoleDeleteResponse { header }))
    }

    async fn role_grant_permission(
        &self,
        req: Request<AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<AuthRoleGrantPermissionResponse>, Status> {
        let header = self
            .change(&req, Op::RoleGrantPermission(req.get_ref().clone()))
            .await?;
        Ok(Response::new(AuthRoleGrantPermissionResponse { header }))
    }

    async fn role_revoke_permission(
        &self,
        req: Request<AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<AuthRoleRevokePermissionResponse>, Status> {
        let header = self
            .change(&req, Op::RoleRevokePermission(req.get_ref().clone()))
            .await?;
        Ok(Response::new(AuthRoleRevokePermissionResponse { header }))
    }
}
