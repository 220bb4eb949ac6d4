//! What a learner refuses: every etcd gRPC call but `Maintenance/Status`
//! and `KV/Range` (which the KV service limits to serializable reads) gets
//! etcd's "rpc not supported for learner".
//!
//! A tower layer around the client router, written out rather than made
//! with axum's `from_fn`: that boxes every request's future and moves it
//! around, a cost each put paid (a profile of 1000 clients showed it)
//! while only learners ever refuse anything. Here a request that passes
//! costs one atomic read of the raft state and a path comparison.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use futures::future::{ready, Either, Ready};
use tower::{Layer, Service};

use crate::error::ServerError;
use crate::server::EtcdServer;

/// Wraps a router's services in [`LearnerGuard`].
#[derive(Clone)]
pub struct LearnerGuardLayer {
    pub server: Arc<EtcdServer>,
}

impl<S> Layer<S> for LearnerGuardLayer {
    type Service = LearnerGuard<S>;

    fn layer(&self, inner: S) -> LearnerGuard<S> {
        LearnerGuard {
            inner,
            server: self.server.clone(),
        }
    }
}

#[derive(Clone)]
pub struct LearnerGuard<S> {
    inner: S,
    server: Arc<EtcdServer>,
}

/// Whether a learner refuses a request for `path`.
fn refused_by_learner(path: &str) -> bool {
    path.starts_with("/etcdserverpb.")
        && path != "/etcdserverpb.Maintenance/Status"
        && path != "/etcdserverpb.KV/Range"
}

impl<S> Service<Request> for LearnerGuard<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if refused_by_learner(req.uri().path()) && self.server.raft_info().is_learner {
            let refusal = ServerError::NotSupportedForLearner.to_status().into_http();
            return Either::Left(ready(Ok(refusal)));
        }
        Either::Right(self.inner.call(req))
    }
}
