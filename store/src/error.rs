//! Errors of the MVCC store. The `Display` text of each client-visible
//! variant is etcd's exact message, so the gRPC layer passes it through and
//! only chooses the status code (see raft-node's error table).

/// Everything that can go wrong inside the store.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    #[error("etcdserver: mvcc: required revision has been compacted")]
    Compacted,
    #[error("etcdserver: mvcc: required revision is a future revision")]
    FutureRevision,
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    #[error("etcdserver: lease already exists")]
    LeaseExists,
    #[error("etcdserver: too large lease TTL")]
    LeaseTtlTooLarge,
    #[error("etcdserver: key not found")]
    KeyNotFound,
    #[error("etcdserver: key is not provided")]
    EmptyKey,
    #[error("etcdserver: value is provided")]
    ValueProvided,
    #[error("etcdserver: lease is provided")]
    LeaseProvided,
    #[error("etcdserver: too many operations in txn request")]
    TooManyOps,
    #[error("etcdserver: duplicate key given in txn request")]
    DuplicateKey,
    /// Refused by auth (RBAC or user/role management).
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    /// The storage engine failed. Not deterministic across members: a member
    /// that sees this on the apply path must stop rather than diverge.
    #[error("storage backend: {0}")]
    Backend(String),
    /// Data on disk does not decode: the data dir is damaged.
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// True if every member applying the same entry gets the same error.
    pub fn is_deterministic(&self) -> bool {
        !matches!(self, StoreError::Backend(_) | StoreError::Corrupt(_))
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl From<prost::DecodeError> for StoreError {
    fn from(e: prost::DecodeError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}
