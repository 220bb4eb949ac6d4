//! Read-only views of the member's state, for the front doors that need
//! more than a request and its response: the v2 API (the auth state behind
//! its credential checks, revisions and history for its waits), the health
//! endpoint, the peer service (removed members, the member list) and the
//! in-process client. They only read; every change goes through the typed
//! requests of the server API, so the adapters never hold the store.

use std::sync::Arc;

use etcd_proto::etcdrs::MemberRecord;
use etcd_proto::etcdserverpb::{RangeRequest, RangeResponse};
use etcd_store::auth::AuthState;
use etcd_store::{HistoryError, RevisionEvents, StoreError};
use tokio::sync::watch;

use super::EtcdServer;
use crate::config::Config;

impl EtcdServer {
    /// Reads the auth state (users, roles, whether auth is on).
    pub fn with_auth_state<T>(&self, f: impl FnOnce(&AuthState) -> T) -> T {
        self.store.with_auth(f)
    }

    /// Whether auth is enabled, and the auth revision.
    pub fn auth_enabled_and_revision(&self) -> (bool, u64) {
        self.store.auth_status()
    }

    /// The store's current revision.
    pub fn current_revision(&self) -> i64 {
        self.store.current_revision()
    }

    /// The revision the store is compacted to.
    pub fn compacted_revision(&self) -> i64 {
        self.store.compacted_revision()
    }

    /// The last raft index applied to the store.
    pub fn applied_index(&self) -> u64 {
        self.store.applied_index()
    }

    /// The alarms raised, as (member id, alarm type).
    pub fn active_alarms(&self) -> Vec<(u64, i32)> {
        self.store.alarms()
    }

    /// Events of revisions `from..`, oldest first, at most `max_revisions`
    /// of them (see `etcd_store::Store::events_since`).
    pub fn events_since(
        &self,
        from: i64,
        max_revisions: usize,
    ) -> Result<Vec<Arc<RevisionEvents>>, HistoryError> {
        self.store.events_since(from, max_revisions)
    }

    /// Follows the current revision as writes apply.
    pub fn revisions(&self) -> watch::Receiver<i64> {
        self.store.subscribe()
    }

    /// A serializable read of this member's store, with no permission
    /// check (for the checks the v2 API makes on its own behalf).
    pub fn range_local(&self, req: &RangeRequest) -> Result<RangeResponse, StoreError> {
        self.store.range(req)
    }

    /// The member with `id` in the applied member list.
    pub fn member_record(&self, id: u64) -> Option<MemberRecord> {
        self.membership.get(id)
    }

    /// The applied member list.
    pub fn member_records(&self) -> Vec<MemberRecord> {
        self.membership.list()
    }

    /// Whether member `id` was removed from the cluster.
    pub fn is_removed_member(&self, id: u64) -> bool {
        self.membership.is_removed(id)
    }

    /// This member's name (`--name`).
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// This member's ID.
    pub fn member_id(&self) -> u64 {
        self.member_id
    }

    /// The cluster's ID.
    pub fn cluster_id(&self) -> u64 {
        self.cluster_id
    }

    /// The configuration this member started with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Follows the applied index as entries apply.
    pub fn applied_indexes(&self) -> watch::Receiver<u64> {
        self.applied_rx.clone()
    }

    /// The largest request this member accepts (`--max-request-bytes`).
    pub fn max_request_bytes(&self) -> u32 {
        self.config.max_request_bytes
    }
}
