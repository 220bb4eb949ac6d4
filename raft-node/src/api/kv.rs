//! The KV gRPC service: takes the caller's identity from the request,
//! refuses messages over etcd's receive limit in grpc-go's words, and hands
//! the request to the server API (`server/kv.rs`).

use etcd_proto::etcdserverpb::kv_server::Kv;
use etcd_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use tonic::{Request, Response, Status};

use super::Shared;

pub struct KvService {
    pub server: Shared,
}

/// The most the KV service decodes at all (bounded memory); requests
/// between [`receive_limit`] and this are refused in grpc-go's words.
pub fn decode_cap(server: &Shared) -> usize {
    receive_limit(server) * 4
}

/// etcd's gRPC receive limit: `--max-request-bytes` plus grpc's overhead.
fn receive_limit(server: &Shared) -> usize {
    server.max_request_bytes() as usize + 512 * 1024
}

/// Refuses a request over the receive limit as etcd's grpc-go server does
/// (tonic's own refusal has another code and text).
fn within_receive_limit<T: prost::Message>(server: &Shared, req: &T) -> Result<(), Status> {
    let (len, max) = (req.encoded_len(), receive_limit(server));
    if len > max {
        return Err(Status::resource_exhausted(format!(
            "grpc: received message larger than max ({len} vs. {max})"
        )));
    }
    Ok(())
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(&self, req: Request<RangeRequest>) -> Result<Response<RangeResponse>, Status> {
        within_receive_limit(&self.server, req.get_ref())?;
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.range(&auth, req.get_ref()).await?;
        Ok(Response::new(resp))
    }

    async fn put(&self, req: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        within_receive_limit(&self.server, req.get_ref())?;
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.put(auth, req.into_inner()).await?;
        Ok(Response::new(resp))
    }

    async fn delete_range(
        &self,
        req: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        within_receive_limit(&self.server, req.get_ref())?;
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.delete_range(auth, req.into_inner()).await?;
        Ok(Response::new(resp))
    }

    async fn txn(&self, req: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        within_receive_limit(&self.server, req.get_ref())?;
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.txn(auth, req.into_inner()).await?;
        Ok(Response::new(resp))
    }

    async fn compact(
        &self,
        req: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        within_receive_limit(&self.server, req.get_ref())?;
        let auth = self.server.auth_info(&req).await?;
        let resp = self.server.compact(auth, req.into_inner()).await?;
        Ok(Response::new(resp))
    }
}
