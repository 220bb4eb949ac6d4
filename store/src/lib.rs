//! etcd's MVCC key-value store as a deterministic state machine.
//!
//! This crate knows nothing of networks or consensus. It is given committed
//! requests in log order ([`Store::apply`]) and answers reads
//! ([`Store::range`]); two stores that apply the same log hold the same data
//! and report the same [`Store::hash_kv`].
//!
//! Layers, bottom up:
//! - [`backend`]: an ordered byte keyspace with atomic batches (sled, or memory);
//!   [`write_buffer`]: recent writes kept in memory and handed to the engine
//!   in large batches, as etcd's batch transaction does.
//! - [`revision`], [`key_index`], [`index`]: etcd's revision model and the
//!   in-memory key -> revisions index, rebuilt from rows at open.
//! - [`store`] (reads, open) and `apply` (writes): requests with etcd's exact
//!   semantics for ranges, puts, deletes, txns, compaction, leases, alarms.
//! - [`history`]: events per revision, for watchers to catch up from.
//! - [`snapshot`]: consistent whole-store copies.
//! - [`validate`]: the request checks etcd makes before consensus.
//! - [`auth`]: users, roles and key-range permission checks, applied from
//!   the log like the data and persisted in one row; [`authorize`]: which
//!   permission each (nested) request needs.

pub mod auth;
pub mod authorize;
pub mod backend;
pub mod error;
pub mod history;
pub mod index;
pub mod key_index;
pub mod revision;
pub mod rows;
pub mod snapshot;
pub mod store;
pub mod validate;
pub mod write_buffer;

mod apply;
mod write_txn;

pub use apply::{Applied, ApplyGroup};
pub use backend::{Backend, FaultyBackend, MemBackend, SledBackend};
pub use error::StoreError;
pub use history::RevisionEvents;
pub use store::{HistoryError, LeaseEntry, Store, StoreConfig, StoreStatus, MAX_LEASE_TTL};
pub use write_buffer::WriteBuffer;
