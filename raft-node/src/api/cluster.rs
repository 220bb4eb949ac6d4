//! Cluster service. A single member lists itself; membership changes arrive
//! with multi-member clusters and answer Unimplemented until then.

use etcd_proto::etcdserverpb::cluster_server::Cluster;
use etcd_proto::etcdserverpb::{
    MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse,
};
use tonic::{Request, Response, Status};

use super::Shared;
use crate::error::ServerError;

pub struct ClusterService {
    pub server: Shared,
}

fn not_yet(what: &str) -> Status {
    Status::unimplemented(format!("etcd-rs: {what} needs multi-member support"))
}

impl ClusterService {
    /// etcd's answer for an ID that is not a member.
    fn known(&self, id: u64) -> Result<(), Status> {
        if self.server.members.iter().any(|m| m.id == id) {
            Ok(())
        } else {
            Err(ServerError::MemberNotFound.to_status())
        }
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(
        &self,
        _req: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        Err(not_yet("member add"))
    }

    async fn member_remove(
        &self,
        req: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        self.known(req.into_inner().id)?;
        Err(not_yet("member remove"))
    }

    async fn member_update(
        &self,
        req: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        self.known(req.into_inner().id)?;
        Err(not_yet("member update"))
    }

    async fn member_list(
        &self,
        _req: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        let members = self.server.members.iter().map(|m| m.to_proto()).collect();
        Ok(Response::new(MemberListResponse {
            header: Some(self.server.cluster_header()),
            members,
        }))
    }

    async fn member_promote(
        &self,
        req: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        self.known(req.into_inner().id)?;
        // Every member of a single-member cluster is a voter.
        Err(Status::failed_precondition(
            "etcdserver: can only promote a learner member",
        ))
    }
}
