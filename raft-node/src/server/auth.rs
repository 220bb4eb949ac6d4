//! The Auth requests of the server API: turning auth on and off, logging
//! in, and managing users, roles and permissions.
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
use etcd_proto::etcdserverpb::{
    AuthDisableRequest, AuthDisableResponse, AuthEnableRequest, AuthEnableResponse,
    AuthRoleAddRequest, AuthRoleAddResponse, AuthRoleDeleteRequest, AuthRoleDeleteResponse,
    AuthRoleGetRequest, AuthRoleGetResponse, AuthRoleGrantPermissionRequest,
    AuthRoleGrantPermissionResponse, AuthRoleListResponse, AuthRoleRevokePermissionRequest,
    AuthRoleRevokePermissionResponse, AuthStatusResponse, AuthUserAddRequest, AuthUserAddResponse,
    AuthUserChangePasswordRequest, AuthUserChangePasswordResponse, AuthUserDeleteRequest,
    AuthUserDeleteResponse, AuthUserGetRequest, AuthUserGetResponse, AuthUserGrantRoleRequest,
    AuthUserGrantRoleResponse, AuthUserListResponse, AuthUserRevokeRoleRequest,
    AuthUserRevokeRoleResponse, AuthenticateRequest, AuthenticateResponse, ResponseHeader,
};
use etcd_store::auth::AuthError;
use etcd_store::Applied;

use super::EtcdServer;
use crate::auth::password;
use crate::auth::tokens::SimpleTokens;
use crate::auth::TokenProvider;
use crate::error::ServerError;

impl EtcdServer {
    /// Proposes an auth change as `auth`; answers the response header.
    async fn change_auth(
        &self,
        auth: AuthInfo,
        op: Op,
    ) -> Result<Option<ResponseHeader>, ServerError> {
        match self.propose_as(op, auth).await? {
            Applied::Auth { .. } => Ok(Some(self.header())),
            _ => Err(ServerError::Internal("unexpected apply result".into())),
        }
    }

    fn hash_cost(&self) -> u32 {
        password::effective_cost(self.config.bcrypt_cost)
    }

    pub fn auth_status(&self) -> AuthStatusResponse {
        let (enabled, auth_revision) = self.store.auth_status();
        AuthStatusResponse {
            header: Some(self.header()),
            enabled,
            auth_revision,
        }
    }

    pub async fn auth_enable(&self, auth: AuthInfo) -> Result<AuthEnableResponse, ServerError> {
        let header = self
            .change_auth(auth, Op::AuthEnable(AuthEnableRequest {}))
            .await?;
        Ok(AuthEnableResponse { header })
    }

    pub async fn auth_disable(&self, auth: AuthInfo) -> Result<AuthDisableResponse, ServerError> {
        let header = self
            .change_auth(auth, Op::AuthDisable(AuthDisableRequest {}))
            .await?;
        Ok(AuthDisableResponse { header })
    }

    /// Logs a user in with a password; answers a token.
    pub async fn authenticate(
        &self,
        r: AuthenticateRequest,
    ) -> Result<AuthenticateResponse, ServerError> {
        let hash = self.store.with_auth(|a| {
            if !a.enabled {
                return Err(AuthError::AuthNotEnabled);
            }
            match a.users.get(&r.name) {
                Some(u) if !u.no_password => Ok(u.password_hash.clone()),
                _ => Err(AuthError::AuthFailed),
            }
        })?;
        if !password::verify(r.password, hash).await {
            return Err(AuthError::AuthFailed.into());
        }
        let token_prefix = match self.tokens.as_ref() {
            TokenProvider::Simple(_) => SimpleTokens::gen_prefix(),
            TokenProvider::Jwt(_) => String::new(),
        };
        let login = AuthenticateApply {
            name: r.name,
            token_prefix,
        };
        let Applied::Authenticated { user, token } = self.propose(Op::Authenticate(login)).await?
        else {
            return Err(ServerError::Internal("unexpected apply result".into()));
        };
        let token = match self.tokens.as_ref() {
            TokenProvider::Simple(_) => token,
            TokenProvider::Jwt(jwt) => jwt
                .issue(&user, self.store.auth_status().1)
                .map_err(ServerError::Internal)?,
        };
        Ok(AuthenticateResponse {
            header: Some(self.header()),
            token,
        })
    }

    pub async fn user_add(
        &self,
        auth: AuthInfo,
        mut add: AuthUserAddRequest,
    ) -> Result<AuthUserAddResponse, ServerError> {
        if add.name.is_empty() {
            return Err(AuthError::UserEmpty.into());
        }
        // Refuse before paying for a hash.
        self.check_admin(&auth)?;
        let no_password = add.options.as_ref().is_some_and(|o| o.no_password);
        let plain = std::mem::take(&mut add.password);
        if !no_password && add.hashed_password.is_empty() {
            add.hashed_password = password::hash(plain, self.hash_cost()).await?;
        }
        let header = self.change_auth(auth, Op::UserAdd(add)).await?;
        Ok(AuthUserAddResponse { header })
    }

    /// A user's roles: users may look themselves up; anyone else needs root.
    pub async fn user_get(
        &self,
        auth: &AuthInfo,
        r: &AuthUserGetRequest,
    ) -> Result<AuthUserGetResponse, ServerError> {
        self.read_barrier().await?;
        let roles = self.store.with_auth(|a| {
            if auth.username != r.name {
                a.check_admin(auth)?;
            }
            a.user_roles(&r.name)
        })?;
        Ok(AuthUserGetResponse {
            header: Some(self.header()),
            roles,
        })
    }

    pub async fn user_list(&self, auth: &AuthInfo) -> Result<AuthUserListResponse, ServerError> {
        self.read_barrier().await?;
        let users = self.store.with_auth(|a| {
            a.check_admin(auth)?;
            Ok::<_, AuthError>(a.users.keys().cloned().collect())
        })?;
        Ok(AuthUserListResponse {
            header: Some(self.header()),
            users,
        })
    }

    pub async fn user_delete(
        &self,
        auth: AuthInfo,
        r: AuthUserDeleteRequest,
    ) -> Result<AuthUserDeleteResponse, ServerError> {
        let header = self.change_auth(auth, Op::UserDelete(r)).await?;
        Ok(AuthUserDeleteResponse { header })
    }

    pub async fn user_change_password(
        &self,
        auth: AuthInfo,
        mut change: AuthUserChangePasswordRequest,
    ) -> Result<AuthUserChangePasswordResponse, ServerError> {
        self.check_admin(&auth)?;
        let plain = std::mem::take(&mut change.password);
        if change.hashed_password.is_empty() {
            change.hashed_password = password::hash(plain, self.hash_cost()).await?;
        }
        let header = self
            .change_auth(auth, Op::UserChangePassword(change))
            .await?;
        Ok(AuthUserChangePasswordResponse { header })
    }

    pub async fn user_grant_role(
        &self,
        auth: AuthInfo,
        r: AuthUserGrantRoleRequest,
    ) -> Result<AuthUserGrantRoleResponse, ServerError> {
        let header = self.change_auth(auth, Op::UserGrantRole(r)).await?;
        Ok(AuthUserGrantRoleResponse { header })
    }

    pub async fn user_revoke_role(
        &self,
        auth: AuthInfo,
        r: AuthUserRevokeRoleRequest,
    ) -> Result<AuthUserRevokeRoleResponse, ServerError> {
        let header = self.change_auth(auth, Op::UserRevokeRole(r)).await?;
        Ok(AuthUserRevokeRoleResponse { header })
    }

    pub async fn role_add(
        &self,
        auth: AuthInfo,
        r: AuthRoleAddRequest,
    ) -> Result<AuthRoleAddResponse, ServerError> {
        let header = self.change_auth(auth, Op::RoleAdd(r)).await?;
        Ok(AuthRoleAddResponse { header })
    }

    /// A role's permissions: holders of the role may look it up; anyone
    /// else needs root.
    pub async fn role_get(
        &self,
        auth: &AuthInfo,
        r: &AuthRoleGetRequest,
    ) -> Result<AuthRoleGetResponse, ServerError> {
        self.read_barrier().await?;
        let perm = self.store.with_auth(|a| {
            let holds = a
                .users
                .get(&auth.username)
                .is_some_and(|u| u.roles.contains(&r.role));
            if !holds {
                a.check_admin(auth)?;
            }
            a.role_permissions(&r.role)
        })?;
        Ok(AuthRoleGetResponse {
            header: Some(self.header()),
            perm,
        })
    }

    pub async fn role_list(&self, auth: &AuthInfo) -> Result<AuthRoleListResponse, ServerError> {
        self.read_barrier().await?;
        let roles = self.store.with_auth(|a| {
            a.check_admin(auth)?;
            Ok::<_, AuthError>(a.roles.keys().cloned().collect())
        })?;
        Ok(AuthRoleListResponse {
            header: Some(self.header()),
            roles,
        })
    }

    pub async fn role_delete(
        &self,
        auth: AuthInfo,
        r: AuthRoleDeleteRequest,
    ) -> Result<AuthRoleDeleteResponse, ServerError> {
        let header = self.change_auth(auth, Op::RoleDelete(r)).await?;
        Ok(AuthRoleDeleteResponse { header })
    }

    pub async fn role_grant_permission(
        &self,
        auth: AuthInfo,
        r: AuthRoleGrantPermissionRequest,
    ) -> Result<AuthRoleGrantPermissionResponse, ServerError> {
        let header = self.change_auth(auth, Op::RoleGrantPermission(r)).await?;
        Ok(AuthRoleGrantPermissionResponse { header })
    }

    pub async fn role_revoke_permission(
        &self,
        auth: AuthInfo,
        r: AuthRoleRevokePermissionRequest,
    ) -> Result<AuthRoleRevokePermissionResponse, ServerError> {
        let header = self.change_auth(auth, Op::RoleRevokePermission(r)).await?;
        Ok(AuthRoleRevokePermissionResponse { header })
    }
}
