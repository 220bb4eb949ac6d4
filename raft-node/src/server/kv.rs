//! The KV requests of the server API: Range, Put, DeleteRange, Txn and
//! Compact, each taking the caller's identity and the request message.
//!
//! Everything a KV request goes through happens here, once, whichever front
//! door it came in by: validation of the request, the learner and quota
//! refusals, the read barrier for linearizable reads, the permission check,
//! proposing through raft and waiting for the apply, and the response
//! header. The gRPC service and the v2 and JSON gateways only translate.

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::AuthInfo;
use etcd_proto::etcdserverpb::request_op::Request as ReqOp;
use etcd_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use etcd_store::{validate, Applied};
use prost::Message;

use super::EtcdServer;
use crate::error::ServerError;

fn unexpected(what: &str) -> ServerError {
    ServerError::Internal(format!("unexpected apply result for {what}"))
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

impl EtcdServer {
    /// Reads keys: linearizable (through the read barrier) unless the
    /// request asks for a serializable read, which learners alone may serve.
    pub async fn range(
        &self,
        auth: &AuthInfo,
        r: &RangeRequest,
    ) -> Result<RangeResponse, ServerError> {
        validate::check_range(r)?;
        if !r.serializable {
            if self.raft_info().is_learner {
                return Err(ServerError::NotSupportedForLearner);
            }
            self.read_barrier().await?;
        }
        self.store.authorize_read(auth, &r.key, &r.range_end)?;
        let mut resp = self.store.range(r)?;
        self.fill(&mut resp.header);
        Ok(resp)
    }

    pub async fn put(&self, auth: AuthInfo, r: PutRequest) -> Result<PutResponse, ServerError> {
        validate::check_put(&r)?;
        self.check_quota(r.encoded_len()).await?;
        match self.propose_as(Op::Put(r), auth).await? {
            Applied::Put(mut resp) => {
                self.fill(&mut resp.header);
                Ok(resp)
            }
            _ => Err(unexpected("put")),
        }
    }

    pub async fn delete_range(
        &self,
        auth: AuthInfo,
        r: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, ServerError> {
        validate::check_delete(&r)?;
        match self.propose_as(Op::DeleteRange(r), auth).await? {
            Applied::DeleteRange(mut resp) => {
                self.fill(&mut resp.header);
                Ok(resp)
            }
            _ => Err(unexpected("delete")),
        }
    }

    /// A transaction: one that only reads is served locally (through the
    /// read barrier unless every read is serializable), any other is
    /// proposed.
    pub async fn txn(&self, auth: AuthInfo, r: TxnRequest) -> Result<TxnResponse, ServerError> {
        validate::check_txn(&r, self.config.max_txn_ops as usize)?;
        if validate::txn_is_read_only(&r) {
            if !txn_is_serializable(&r) {
                self.read_barrier().await?;
            }
            self.store.with_auth(|a| a.authorize_txn(&auth, &r))?;
            if let Some(result) = self.store.txn_read_only(&r) {
                let mut resp = result?;
                self.fill(&mut resp.header);
                return Ok(resp);
            }
        } else {
            self.check_quota(r.encoded_len()).await?;
        }
        match self.propose_as(Op::Txn(r), auth).await? {
            Applied::Txn(mut resp) => {
                self.fill(&mut resp.header);
                Ok(resp)
            }
            _ => Err(unexpected("txn")),
        }
    }

    pub async fn compact(
        &self,
        auth: AuthInfo,
        r: CompactionRequest,
    ) -> Result<CompactionResponse, ServerError> {
        match self.propose_as(Op::Compaction(r), auth).await? {
            Applied::Compaction(mut resp) => {
                self.fill(&mut resp.header);
                Ok(resp)
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
