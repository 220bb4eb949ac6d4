//! The Auth gRPC service: an adapter over the server API (`server/auth.rs`).

use etcd_proto::etcdserverpb::auth_server::Auth;
use etcd_proto::etcdserverpb::*;
use tonic::{Request, Response, Status};

use super::Shared;

pub struct AuthService {
    pub server: Shared,
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn auth_status(
        &self,
        _req: Request<AuthStatusRequest>,
    ) -> Result<Response<AuthStatusResponse>, Status> {
        Ok(Response::new(self.server.auth_status()))
    }

    async fn authenticate(
        &self,
        req: Request<AuthenticateRequest>,
    ) -> Result<Response<AuthenticateResponse>, Status> {
        let resp = self.server.authenticate(req.into_inner()).await?;
        Ok(Response::new(resp))
    }

    async fn auth_enable(
        &self,
        req: Request<AuthEnableRequest>,
    ) -> Result<Response<AuthEnableResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.auth_enable(auth).await?;
        Ok(Response::new(resp))
    }

    async fn auth_disable(
        &self,
        req: Request<AuthDisableRequest>,
    ) -> Result<Response<AuthDisableResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.auth_disable(auth).await?;
        Ok(Response::new(resp))
    }

    async fn user_add(
        &self,
        req: Request<AuthUserAddRequest>,
    ) -> Result<Response<AuthUserAddResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.user_add(auth, req.into_inner()).await?;
        Ok(Response::new(resp))
    }

    async fn user_get(
        &self,
        req: Request<AuthUserGetRequest>,
    ) -> Result<Response<AuthUserGetResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.user_get(&auth, req.get_ref()).await?;
        Ok(Response::new(resp))
    }

    async fn user_list(
        &self,
        req: Request<AuthUserListRequest>,
    ) -> Result<Response<AuthUserListResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.user_list(&auth).await?;
        Ok(Response::new(resp))
    }

    async fn user_delete(
        &self,
        req: Request<AuthUserDeleteRequest>,
    ) -> Result<Response<AuthUserDeleteResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.user_delete(auth, req.into_inner()).await?;
        Ok(Response::new(resp))
    }

    async fn user_change_password(
        &self,
        req: Request<AuthUserChangePasswordRequest>,
    ) -> Result<Response<AuthUserChangePasswordResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self
            .server
            .user_change_password(auth, req.into_inner())
            .await?;
        Ok(Response::new(resp))
    }

    async fn user_grant_role(
        &self,
        req: Request<AuthUserGrantRoleRequest>,
    ) -> Result<Response<AuthUserGrantRoleResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.user_grant_role(auth, req.into_inner()).await?;
        Ok(Response::new(resp))
    }

    async fn user_revoke_role(
        &self,
        req: Request<AuthUserRevokeRoleRequest>,
    ) -> Result<Response<AuthUserRevokeRoleResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.user_revoke_role(auth, req.into_inner()).await?;
        Ok(Response::new(resp))
    }

    async fn role_add(
        &self,
        req: Request<AuthRoleAddRequest>,
    ) -> Result<Response<AuthRoleAddResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.role_add(auth, req.into_inner()).await?;
        Ok(Response::new(resp))
    }

    async fn role_get(
        &self,
        req: Request<AuthRoleGetRequest>,
    ) -> Result<Response<AuthRoleGetResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.role_get(&auth, req.get_ref()).await?;
        Ok(Response::new(resp))
    }

    async fn role_list(
        &self,
        req: Request<AuthRoleListRequest>,
    ) -> Result<Response<AuthRoleListResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.role_list(&auth).await?;
        Ok(Response::new(resp))
    }

    async fn role_delete(
        &self,
        req: Request<AuthRoleDeleteRequest>,
    ) -> Result<Response<AuthRoleDeleteResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.role_delete(auth, req.into_inner()).await?;
        Ok(Response::new(resp))
    }

    async fn role_grant_permission(
        &self,
        req: Request<AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<AuthRoleGrantPermissionResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self
            .server
            .role_grant_permission(auth, req.into_inner())
            .await?;
        Ok(Response::new(resp))
    }

    async fn role_revoke_permission(
        &self,
        req: Request<AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<AuthRoleRevokePermissionResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self
            .server
            .role_revoke_permission(auth, req.into_inner())
            .await?;
        Ok(Response::new(resp))
    }
}
