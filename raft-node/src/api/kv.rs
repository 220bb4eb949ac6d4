//! KV service: Range, Put, DeleteRange, Txn, Compact.

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdserverpb::kv_server::Kv;
use etcd_proto::etcdserverpb::request_op::Request as ReqOp;
use etcd_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use etcd_store::{validate, Applied};
use prost::Message;
use tonic::{Request, Response, Status};

use super::Shared;
use crate::error::{store_status, ServerError};

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
    server.config.max_request_bytes as usize + 512 * 1024
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

fn unexpected(what: &str) -> Status {
    ServerError::Internal(format!("unexpected apply result for {what}")).to_status()
}

/// etcd's rule (`isTxnSerializable`): a txn is served without the read
/// barrier only if every op of both branches is a serializable range. A
/// nested txn counts as not serializable, whatever it holds.
fn txn_is_serializable(t: &TxnRequest) -> bool {
    t.success
        .iter()
        .chain(&t.failure)
        .all(|op| matches!(&op.request, Some(ReqOp::RequestRange(r)) if r.serializable))
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(&self, req: Request<RangeRequest>) -> Result<Response<RangeResponse>, Status> {
        within_receive_limit(&self.server, req.get_ref())?;
        let auth = self.server.auth_info(&req).await?;
        let r = req.into_inner();
        validate::check_range(&r).map_err(store_status)?;
        if !r.serializable && self.server.raft_info().is_learner {
            return Err(ServerError::NotSupportedForLearner.to_status());
        }
        if !r.serializable {
            self.server.read_barrier().await?;
        }
        self.server
            .store
            .authorize_read(&auth, &r.key, &r.range_end)
            .map_err(store_status)?;
        let mut resp = self.server.store.range(&r).map_err(store_status)?;
        self.server.fill(&mut resp.header);
        Ok(Response::new(resp))
    }

    async fn put(&self, req: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        within_receive_limit(&self.server, req.get_ref())?;
        let auth = self.server.auth_info(&req).await?;
        let r = req.into_inner();
        validate::check_put(&r).map_err(store_status)?;
        self.server.check_quota(r.encoded_len()).await?;
        match self.server.propose_as(Op::Put(r), auth).await? {
            Applied::Put(mut resp) => {
                self.server.fill(&mut resp.header);
                Ok(Response::new(resp))
            }
            _ => Err(unexpected("put")),
        }
    }

    async fn delete_range(
        &self,
        req: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        within_receive_limit(&self.server, req.get_ref())?;
        let auth = self.server.auth_info(&req).await?;
        let r = req.into_inner();
        validate::check_delete(&r).map_err(store_status)?;
        match self.server.propose_as(Op::DeleteRange(r), auth).await? {
            Applied::DeleteRange(mut resp) => {
                self.server.fill(&mut resp.header);
                Ok(Response::new(resp))
            }
            _ => Err(unexpected("delete")),
        }
    }

    async fn txn(&self, req: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        within_receive_limit(&self.server, req.get_ref())?;
        let auth = self.server.auth_info(&req).await?;
        let r = req.into_inner();
        validate::check_txn(&r, self.server.config.max_txn_ops as usize).map_err(store_status)?;
        if validate::txn_is_read_only(&r) {
            if !txn_is_serializable(&r) {
                self.server.read_barrier().await?;
            }
            self.server
                .store
                .with_auth(|a| a.authorize_txn(&auth, &r))
                .map_err(ServerError::from)?;
            if let Some(result) = self.server.store.txn_read_only(&r) {
                let mut resp = result.map_err(store_status)?;
                self.server.fill(&mut resp.header);
                return Ok(Response::new(resp));
            }
        } else {
            self.server.check_quota(r.encoded_len()).await?;
        }
        match self.server.propose_as(Op::Txn(r), auth).await? {
            Applied::Txn(mut resp) => {
                self.server.fill(&mut resp.header);
                Ok(Response::new(resp))
            }
            _ => Err(unexpected("txn")),
        }
    }

    async fn compact(
        &self,
        req: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        within_receive_limit(&self.server, req.get_ref())?;
        let auth = self.server.auth_info(&req).await?;
        let r = req.into_inner();
        match self.server.propose_as(Op::Compaction(r), auth).await? {
            Applied::Compaction(mut resp) => {
                self.server.fill(&mut resp.header);
                Ok(Response::new(resp))
            }
            _ => Err(unexpected("compaction")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_proto::etcdserverpb::{RangeRequest, RequestOp};

    fn range(serializable: bool) -> RequestOp {
        RequestOp {
            request: Some(ReqOp::RequestRange(RangeRequest {
                key: b"k".to_vec(),
                serializable,
                ..Default::default()
            })),
        }
    }

    #[test]
    fn only_serializable_ranges_skip_the_barrier() {
        let txn = |success: Vec<RequestOp>| TxnRequest {
            success,
            ..Default::default()
        };
        assert!(txn_is_serializable(&txn(vec![range(true), range(true)])));
        assert!(!txn_is_serializable(&txn(vec![range(true), range(false)])));
        let nested = RequestOp {
            request: Some(ReqOp::RequestTxn(txn(vec![range(true)]))),
        };
        assert!(
            !txn_is_serializable(&txn(vec![nested])),
            "a nested txn is read through the barrier, as etcd"
        );
    }
}
