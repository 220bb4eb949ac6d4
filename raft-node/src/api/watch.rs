//! The Watch gRPC service: an adapter over the server API
//! (`server/watch_stream.rs`). The stream's credentials and etcd's `hasleader`
//! metadata go to the session; the session's errors become statuses.

use std::pin::Pin;

use etcd_proto::etcdserverpb::watch_server::Watch;
use etcd_proto::etcdserverpb::{WatchRequest, WatchResponse};
use futures::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use super::Shared;
use crate::auth::ClientCommonName;
use crate::server::WatchCaller;

pub struct WatchService {
    pub server: Shared,
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Watch for WatchService {
    type WatchStream = WatchStream;

    async fn watch(
        &self,
        req: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let require_leader = req
            .metadata()
            .get("hasleader")
            .is_some_and(|v| v.as_bytes() == b"true");
        let caller = WatchCaller::Credentials(
            req.metadata().clone(),
            req.extensions().get::<ClientCommonName>().cloned(),
        );
        // The session ends when the client's stream ends or fails.
        let requests = req
            .into_inner()
            .take_while(Result::is_ok)
            .filter_map(Result::ok);
        let responses = self
            .server
            .watch(caller, Box::pin(requests), require_leader)?;
        Ok(Response::new(Box::pin(
            ReceiverStream::new(responses).map(|r| r.map_err(Status::from)),
        )))
    }
}
