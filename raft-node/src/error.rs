//! Every error a client can see, and the one table that maps each to the
//! gRPC status etcd would send (code and exact message), like etcd's
//! `v3rpc/rpctypes`.

use etcd_store::auth::AuthError;
use etcd_store::StoreError;
use tonic::{Code, Status};

/// Errors of the server layer (consensus, limits, lifecycle), plus the
/// store's request errors passed through.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("etcdserver: no leader")]
    NoLeader,
    #[error("etcdserver: request timed out")]
    Timeout,
    #[error("etcdserver: server stopped")]
    Stopped,
    #[error("etcdserver: request is too large")]
    RequestTooLarge,
    #[error("etcdserver: too many requests")]
    TooManyRequests,
    #[error("etcdserver: mvcc: database space exceeded")]
    NoSpace,
    #[error("etcdserver: member not found")]
    MemberNotFound,
    #[error("etcdserver: not capable")]
    NotCapable,
    #[error("etcdserver: not leader")]
    NotLeader,
    #[error("etcdserver: rpc not supported for learner")]
    NotSupportedForLearner,
    #[error("etcdserver: the member has been permanently removed from the cluster")]
    Removed,
    #[error("etcdserver: Peer URLs already exists")]
    PeerUrlExists,
    #[error("etcdserver: bad leader transferee")]
    BadLeaderTransferee,
    #[error("etcdserver: request timed out, leader transfer took too long")]
    LeaderTransferTimeout,
    #[error("etcd-rs: {0} is not supported")]
    Unimplemented(&'static str),
    #[error("etcdserver: member peer URLs not provided")]
    PeerUrlsMissing,
    #[error("etcdserver: invalid peer URL {0}")]
    InvalidPeerUrl(String),
    #[error("etcdserver: too many learner members in cluster")]
    TooManyLearners,
    #[error("etcdserver: can only promote a learner member")]
    MemberNotLearner,
    #[error("etcdserver: can only promote a learner member which is in sync with leader")]
    LearnerNotReady,
    /// Another member's refusal of a request forwarded to it, passed on
    /// with its gRPC code and message as they came.
    #[error("{1}")]
    Forwarded(i32, String),
    #[error("etcdserver: {0}")]
    Internal(String),
}

impl ServerError {
    /// The gRPC status etcd sends for this error.
    pub fn to_status(&self) -> Status {
        let code = match self {
            ServerError::Store(e) => store_code(e),
            ServerError::NoLeader
            | ServerError::Timeout
            | ServerError::Stopped
            | ServerError::NotSupportedForLearner
            | ServerError::Removed
            | ServerError::LeaderTransferTimeout => Code::Unavailable,
            ServerError::PeerUrlExists
            | ServerError::BadLeaderTransferee
            | ServerError::TooManyLearners
            | ServerError::MemberNotLearner
            | ServerError::LearnerNotReady => Code::FailedPrecondition,
            ServerError::PeerUrlsMissing | ServerError::InvalidPeerUrl(_) => Code::InvalidArgument,
            ServerError::Unimplemented(_) => Code::Unimplemented,
            ServerError::Forwarded(code, _) => Code::from_i32(*code),
            ServerError::RequestTooLarge => Code::InvalidArgument,
            ServerError::NoSpace | ServerError::TooManyRequests => Code::ResourceExhausted,
            ServerError::MemberNotFound => Code::NotFound,
            ServerError::NotCapable | ServerError::NotLeader => Code::FailedPrecondition,
            ServerError::Internal(_) => Code::Internal,
        };
        Status::new(code, self.to_string())
    }
}

fn store_code(e: &StoreError) -> Code {
    match e {
        StoreError::Compacted | StoreError::FutureRevision | StoreError::LeaseTtlTooLarge => {
            Code::OutOfRange
        }
        StoreError::LeaseNotFound => Code::NotFound,
        StoreError::LeaseExists => Code::FailedPrecondition,
        StoreError::KeyNotFound
        | StoreError::EmptyKey
        | StoreError::ValueProvided
        | StoreError::LeaseProvided
        | StoreError::TooManyOps
        | StoreError::DuplicateKey => Code::InvalidArgument,
        StoreError::Backend(_) | StoreError::Corrupt(_) => Code::Internal,
        StoreError::Auth(a) => auth_code(a),
    }
}

fn auth_code(e: &AuthError) -> Code {
    match e {
        AuthError::UserEmpty
        | AuthError::RoleEmpty
        | AuthError::AuthFailed
        | AuthError::InvalidAuthMgmt
        | AuthError::AuthOldRevision
        | AuthError::PermissionNotGiven => Code::InvalidArgument,
        AuthError::PermissionDenied => Code::PermissionDenied,
        AuthError::InvalidAuthToken => Code::Unauthenticated,
        AuthError::RootUserNotExist
        | AuthError::RootRoleNotExist
        | AuthError::UserAlreadyExist
        | AuthError::UserNotFound
        | AuthError::RoleAlreadyExist
        | AuthError::RoleNotFound
        | AuthError::RoleNotGranted
        | AuthError::PermissionNotGranted
        | AuthError::AuthNotEnabled => Code::FailedPrecondition,
    }
}

impl From<AuthError> for ServerError {
    fn from(e: AuthError) -> Self {
        ServerError::Store(StoreError::Auth(e))
    }
}

/// The gRPC status for a store error (for `map_err(store_status)?`).
pub fn store_status(e: StoreError) -> Status {
    ServerError::Store(e).to_status()
}

impl From<ServerError> for Status {
    fn from(e: ServerError) -> Status {
        e.to_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_codes_and_messages() {
        let cases = [
            (
                ServerError::Store(StoreError::Compacted),
                Code::OutOfRange,
                "etcdserver: mvcc: required revision has been compacted",
            ),
            (
                ServerError::Store(StoreError::EmptyKey),
                Code::InvalidArgument,
                "etcdserver: key is not provided",
            ),
            (
                ServerError::Store(StoreError::LeaseNotFound),
                Code::NotFound,
                "etcdserver: requested lease not found",
            ),
            (
                ServerError::RequestTooLarge,
                Code::InvalidArgument,
                "etcdserver: request is too large",
            ),
            (
                ServerError::BadLeaderTransferee,
                Code::FailedPrecondition,
                "etcdserver: bad leader transferee",
            ),
            (
                ServerError::LeaderTransferTimeout,
                Code::Unavailable,
                "etcdserver: request timed out, leader transfer took too long",
            ),
            (
                ServerError::NoSpace,
                Code::ResourceExhausted,
                "etcdserver: mvcc: database space exceeded",
            ),
            (
                AuthError::InvalidAuthToken.into(),
                Code::Unauthenticated,
                "etcdserver: invalid auth token",
            ),
            (
                AuthError::PermissionDenied.into(),
                Code::PermissionDenied,
                "etcdserver: permission denied",
            ),
            (
                AuthError::UserEmpty.into(),
                Code::InvalidArgument,
                "etcdserver: user name is empty",
            ),
            (
                AuthError::RootUserNotExist.into(),
                Code::FailedPrecondition,
                "etcdserver: root user does not exist",
            ),
            (
                ServerError::NoLeader,
                Code::Unavailable,
                "etcdserver: no leader",
            ),
        ];
        for (err, code, msg) in cases {
            let s = err.to_status();
            assert_eq!((s.code(), s.message()), (code, msg));
        }
    }
}
