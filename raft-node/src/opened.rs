//! Opening a member's data dir at start: the WAL is read on a thread of its
//! own while the store rebuilds its index (on two cores a restart takes the
//! longer of the two, not both), then the member's identity (kept, derived
//! for a new cluster, or learnt from a running one) and start-up recovery
//! (`recovery::reconcile`), so the raft loop and the apply path start from a
//! WAL and a store that agree.

use std::path::Path;
use std::sync::Arc;

use etcd_datadir::identity::{self, Identity};
use etcd_datadir::membership::Membership;
use etcd_datadir::snap_files::SnapFiles;
use etcd_datadir::wal::{Recovered, Wal, DEFAULT_SEGMENT_BYTES};
use etcd_datadir::{bootstrap, DataDirError};
use etcd_proto::etcdrs::MemberRecord;
use etcd_store::{SledBackend, Store, StoreConfig, WriteBuffer};

use crate::join::join_existing;
use crate::{recovery, Config, ServerError, StartError};

/// A member's durable state, opened and reconciled.
pub(crate) struct Opened {
    pub store: Arc<Store>,
    pub wal: Wal,
    pub recovered: Recovered,
    pub membership: Arc<Membership>,
    pub identity: Identity,
    /// Peers to talk to before the log has told us the member list.
    pub initial_peers: Vec<MemberRecord>,
    pub snaps: SnapFiles,
}

/// Opens the data dir of `config` (its `member/` directory is `member_dir`).
pub(crate) async fn open(config: &Config, member_dir: &Path) -> Result<Opened, StartError> {
    std::fs::create_dir_all(member_dir)?;

    // The WAL is read on a thread of its own while the store rebuilds its
    // index: on two cores a restart takes the longer of the two, not both.
    let wal_dir = config.wal_dir();
    let wal_open = std::thread::spawn(move || Wal::open(&wal_dir, DEFAULT_SEGMENT_BYTES));
    // Applied rows reach sled in large batches (see etcd_store::write_buffer).
    let backend = WriteBuffer::new(SledBackend::open(&member_dir.join("db"))?);
    let store = Arc::new(Store::open(
        Box::new(backend),
        StoreConfig {
            min_lease_ttl: config.min_lease_ttl(),
            ..StoreConfig::default()
        },
    )?);
    let (mut wal, mut recovered) = wal_open
        .join()
        .map_err(|_| StartError::Config("reading the WAL panicked".into()))?
        .map_err(DataDirError::from)?;
    let membership = Arc::new(Membership::load(&store)?);

    // Peers to talk to before the log has told us the member list.
    let mut initial_peers: Vec<MemberRecord> = Vec::new();
    let identity = match identity::read(member_dir)? {
        Some(id) => id,
        None if config.initial_cluster_state == "existing" => {
            let (identity, members) = join_existing(config).await?;
            initial_peers = members;
            identity::write(member_dir, &identity)?;
            identity
        }
        None => {
            let (identity, members) =
                identity::new_cluster_identity(&config.name, &config.new_cluster())?;
            if recovered.entries.is_empty() && recovered.snapshot.index == 0 {
                recovered =
                    bootstrap::write_initial_log(&mut wal, &members).map_err(DataDirError::from)?;
            }
            initial_peers = members;
            identity::write(member_dir, &identity)?;
            identity
        }
    };
    let snaps = SnapFiles::new(&member_dir.join("snap"))?;
    recovery::reconcile(&store, &membership, &mut wal, &mut recovered, &snaps)?;
    if membership.is_removed(identity.member_id) {
        return Err(StartError::Server(ServerError::Removed));
    }
    Ok(Opened {
        store,
        wal,
        recovered,
        membership,
        identity,
        initial_peers,
        snaps,
    })
}
