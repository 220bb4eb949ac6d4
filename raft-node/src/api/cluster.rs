//! The Cluster gRPC service: an adapter over the server API
//! (`server/cluster.rs`). A MemberRemove keeps the caller's token, which
//! the server forwards with the request when the leader must answer it.

use etcd_proto::etcdserverpb::cluster_server::Cluster;
use etcd_proto::etcdserverpb::{
    MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse,
};
use tonic::{Request, Response, Status};

use super::Shared;

pub struct ClusterService {
    pub server: Shared,
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(
        &self,
        req: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.member_add(&auth, req.into_inner()).await?;
        Ok(Response::new(resp))
    }

    async fn member_remove(
        &self,
        req: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let token = req
            .metadata()
            .get("token")
            .and_then(|t| t.to_str().ok())
            .map(str::to_owned);
        let resp = self
            .server
            .member_remove(&auth, req.get_ref(), token.as_deref())
            .await?;
        Ok(Response::new(resp))
    }

    async fn member_update(
        &self,
        req: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.member_update(&auth, req.into_inner()).await?;
        Ok(Response::new(resp))
    }

    async fn member_list(
        &self,
        req: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.member_list(&auth, req.get_ref()).await?;
        Ok(Response::new(resp))
    }

    async fn member_promote(
        &self,
        req: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.member_promote(&auth, req.get_ref()).await?;
        Ok(Response::new(resp))
    }
}
