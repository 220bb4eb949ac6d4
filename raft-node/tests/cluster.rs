//! Three (and four) real `etcd-rs` processes on loopback forming a cluster:
//! writes through every member, the leader killed with -9 and a new one
//! elected without losing an acknowledged write, a restarted member catching
//! up by log and by snapshot, a learner added, promoted, and another member
//! removed, with HashKV equal on all members at the end.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{eventually, free_port, Member, MemberSpec};
use etcd_proto::etcdserverpb::cluster_client::ClusterClient;
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_proto::etcdserverpb::{
    HashKvRequest, LeaseGrantRequest, LeaseTimeToLiveRequest, MemberAddRequest, MemberListRequest,
    MemberPromoteRequest, MemberRemoveRequest, PutRequest, RangeRequest, StatusRequest,
};
use tonic::transport::Channel;

fn specs(dir: &Path, n: usize, extra: &[&str]) -> Vec<MemberSpec> {
    let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
    let initial = ports
        .iter()
        .enumerate()
        .map(|(i, (_, p))| format!("m{i}=http://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    ports
        .iter()
        .enumerate()
        .map(|(i, (c, p))| MemberSpec {
            name: format!("m{i}"),
            data_dir: dir.join(format!("m{i}")),
            client_port: *c,
            peer_port: *p,
            initial_cluster: initial.clone(),
            state: "new",
            extra: extra.iter().map(|s| s.to_string()).collect(),
            tls: false,
            peer_scheme_https: false,
        })
        .collect()
}

async fn put(ch: &Channel, key: &str, value: &str) -> i64 {
    KvClient::new(ch.clone())
        .put(PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e}"))
        .into_inner()
        .header
        .expect("header")
        .revision
}

/// A put retried while the cluster settles after a topology change (a
/// proposal forwarded to a leader that just went away is never acknowledged;
/// clients retry it).
async fn put_settled(ch: &Channel, key: &str, value: &str) -> i64 {
    eventually(20, &format!("put {key} accepted"), || async {
        KvClient::new(ch.clone())
            .put(PutRequest {
                key: key.into(),
                value: value.into(),
                ..Default::default()
            })
            .await
            .ok()
            .and_then(|r| r.into_inner().header)
            .map(|h| h.revision)
    })
    .await
}

async fn keys(ch: &Channel, serializable: bool) -> Option<BTreeMap<String, String>> {
    let resp = KvClient::new(ch.clone())
        .range(RangeRequest {
            key: vec![0],
            range_end: vec![0],
            serializable,
            ..Default::default()
        })
        .await
        .ok()?
        .into_inner();
    Some(
        resp.kvs
            .into_iter()
            .map(|kv| {
                (
                    String::from_utf8_lossy(&kv.key).into_owned(),
                    String::from_utf8_lossy(&kv.value).into_owned(),
                )
            })
            .collect(),
    )
}

async fn status(ch: &Channel) -> Option<(u64, u64, i64)> {
    let s = MaintenanceClient::new(ch.clone())
        .status(StatusRequest {})
        .await
        .ok()?
        .into_inner();
    Some((s.leader, s.header?.member_id, s.raft_applied_index as i64))
}

async fn hash_at(ch: &Channel, rev: i64) -> Option<u32> {
    Some(
        MaintenanceClient::new(ch.clone())
            .hash_kv(HashKvRequest { revision: rev })
            .await
            .ok()?
            .into_inner()
            .hash,
    )
}

/// Waits until every member reports the same HashKV at `rev`.
async fn hashes_agree(chans: &[Channel], rev: i64) {
    eventually(30, "equal HashKV on every member", || async {
        let mut hashes = Vec::new();
        for ch in chans {
            hashes.push(hash_at(ch, rev).await?);
        }
        hashes.windows(2).all(|w| w[0] == w[1]).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_kill_restart_learner_promote_remove() {
    let dir = tempfile::tempdir().expect("tempdir");
    let specs = specs(dir.path(), 3, &["--snapshot-count", "50"]);
    let mut members: Vec<Member> = specs.iter().cloned().map(Member::launch).collect();
    let mut chans = Vec::new();
    for m in &members {
        chans.push(m.client().await);
    }

    // Writes through every member (followers forward to the leader).
    let mut expected = BTreeMap::new();
    let mut last_rev = 0;
    for round in 0..10 {
        for (i, ch) in chans.iter().enumerate() {
            let (k, v) = (format!("k/{round}/{i}"), format!("v{round}{i}"));
            last_rev = put(ch, &k, &v).await;
            expected.insert(k, v);
        }
    }
    assert_eq!(last_rev, 31, "one revision per write, cluster-wide");
    for ch in &chans {
        assert_eq!(keys(ch, false).await.expect("linearizable read"), expected);
    }

    // Kill -9 the leader: the others elect a new one and lose nothing.
    let (leader, _, _) = status(&chans[0]).await.expect("status");
    let mut ids = Vec::new();
    for ch in &chans {
        ids.push(status(ch).await.expect("status").1);
    }
    let li = ids
        .iter()
        .position(|id| *id == leader)
        .expect("leader is a member");
    members[li].signal("-KILL");
    let survivors: Vec<usize> = (0..3).filter(|i| *i != li).collect();
    let s0 = chans[survivors[0]].clone();
    let s1 = chans[survivors[1]].clone();
    eventually(20, "both survivors follow one new leader", || async {
        let (l0, _, _) = status(&s0).await?;
        let (l1, _, _) = status(&s1).await?;
        (l0 != 0 && l0 != leader && l0 == l1).then_some(())
    })
    .await;
    assert_eq!(
        keys(&s0, false).await.expect("read after failover"),
        expected
    );
    // Enough writes to pass the snapshot count, so the killed member must
    // catch up by snapshot.
    for i in 0..120 {
        let ch = &chans[survivors[i % 2]];
        let (k, v) = (format!("after/{i:03}"), format!("a{i}"));
        last_rev = put_settled(ch, &k, &v).await;
        expected.insert(k, v);
    }

    // Restart the killed member: it catches up.
    members[li] = Member::launch(specs[li].clone());
    chans[li] = members[li].client().await;
    let restarted = chans[li].clone();
    let want = expected.clone();
    eventually(30, "restarted member caught up", || async {
        (keys(&restarted, true).await? == want).then_some(())
    })
    .await;
    hashes_agree(&chans, last_rev).await;

    // A fourth member joins as a learner, is promoted, and a founding member
    // is removed.
    let mut cluster = ClusterClient::new(s0.clone());
    let new_spec = {
        let (c, p) = (free_port(), free_port());
        MemberSpec {
            name: "m3".into(),
            data_dir: dir.path().join("m3"),
            client_port: c,
            peer_port: p,
            initial_cluster: format!("{},m3=http://127.0.0.1:{p}", specs[0].initial_cluster),
            state: "existing",
            extra: vec![],
            tls: false,
            peer_scheme_https: false,
        }
    };
    let added = cluster
        .member_add(MemberAddRequest {
            peer_ur_ls: vec![new_spec.peer_url()],
            is_learner: true,
        })
        .await
        .expect("member add")
        .into_inner();
    let new_id = added.member.expect("added member").id;
    assert_eq!(added.members.len(), 4);
    members.push(Member::launch(new_spec));
    let learner = members[3].channel().await;
    let want = expected.clone();
    eventually(30, "learner caught up", || async {
        (keys(&learner, true).await? == want).then_some(())
    })
    .await;
    // A learner serves serializable reads (above) and refuses writes.
    let refused = KvClient::new(learner.clone())
        .put(etcd_proto::etcdserverpb::PutRequest {
            key: b"by-learner".to_vec(),
            ..Default::default()
        })
        .await
        .expect_err("a learner refuses writes");
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    assert_eq!(
        refused.message(),
        "etcdserver: rpc not supported for learner"
    );
    eventually(30, "learner promoted", || {
        let mut cluster = cluster.clone();
        async move {
            cluster
                .member_promote(MemberPromoteRequest { id: new_id })
                .await
                .ok()
                .map(|_| ())
        }
    })
    .await;
    let list = cluster
        .member_list(MemberListRequest { linearizable: true })
        .await
        .expect("member list")
        .into_inner();
    assert!(list.members.iter().all(|m| !m.is_learner), "all voters now");
    assert_eq!(list.members.len(), 4);

    let victim = survivors[1];
    let victim_id = ids[victim];
    let after = cluster
        .member_remove(MemberRemoveRequest { id: victim_id })
        .await
        .expect("member remove")
        .into_inner();
    assert_eq!(after.members.len(), 3);
    eventually(20, "removed member stops", || {
        let exited = members[victim].exited();
        async move { exited.then_some(()) }
    })
    .await;

    let live: Vec<Channel> = [survivors[0], li, 3]
        .iter()
        .map(|i| match i {
            3 => learner.clone(),
            i => chans[*i].clone(),
        })
        .collect();
    last_rev = put_settled(&live[0], "final", "x").await;
    hashes_agree(&live, last_rev).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_work_through_followers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let specs = specs(dir.path(), 3, &[]);
    let members: Vec<Member> = specs.iter().cloned().map(Member::launch).collect();
    let mut chans = Vec::new();
    for m in &members {
        chans.push(m.client().await);
    }
    let (leader, _, _) = status(&chans[0]).await.expect("status");
    let mut follower = None;
    for ch in &chans {
        if status(ch).await.expect("status").1 != leader {
            follower = Some(ch.clone());
        }
    }
    let follower = follower.expect("a follower");
    let mut lease = LeaseClient::new(follower.clone());
    let granted = lease
        .lease_grant(LeaseGrantRequest { ttl: 30, id: 0 })
        .await
        .expect("grant via follower")
        .into_inner();
    let ttl = lease
        .lease_time_to_live(LeaseTimeToLiveRequest {
            id: granted.id,
            keys: false,
        })
        .await
        .expect("ttl via follower")
        .into_inner();
    assert_eq!(ttl.granted_ttl, 30);
    assert!(
        (28..=30).contains(&ttl.ttl),
        "remaining from the leader's clock: {}",
        ttl.ttl
    );
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(etcd_proto::etcdserverpb::LeaseKeepAliveRequest { id: granted.id })
        .await
        .expect("send keepalive");
    let mut stream = lease
        .lease_keep_alive(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("keepalive via follower")
        .into_inner();
    let resp = stream.message().await.expect("stream").expect("response");
    assert_eq!((resp.id, resp.ttl), (granted.id, 30));
}

/// Bug 9: a member that has just become leader, with the grant of a lease
/// committed but not yet applied, must not answer a keep-alive with TTL 0
/// ("no such lease": the client's session and locks would end). As etcd,
/// it waits until it has applied what was committed. One member applies
/// every batch late (failpoints `apply_inline_off` and
/// `apply_thread_delay`); the lease is granted through the leader, and
/// leadership moved to the slow member at once.
#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_that_has_not_applied_a_grant_still_renews_the_lease() {
    let dir = tempfile::tempdir().expect("tempdir");
    let specs = specs(dir.path(), 3, &[]);
    let slow_apply = [(
        "FAILPOINTS",
        "apply_inline_off=return;apply_thread_delay=sleep(1500)",
    )];
    let members: Vec<Member> = specs
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, spec)| match i {
            2 => Member::launch_with_env(spec, &slow_apply),
            _ => Member::launch(spec),
        })
        .collect();
    let mut chans = Vec::new();
    for m in &members {
        chans.push(m.client().await);
    }
    let slow = status(&chans[2]).await.expect("status").1;
    // The slow member leads neither now nor while the lease is granted.
    let leader = eventually(30, "a leader other than the slow member", || async {
        let (leader, _, _) = status(&chans[0]).await?;
        if leader == 0 {
            return None;
        }
        if leader == slow {
            let other = status(&chans[0]).await?.1;
            let _ = MaintenanceClient::new(chans[2].clone())
                .move_leader(etcd_proto::etcdserverpb::MoveLeaderRequest { target_id: other })
                .await;
            return None;
        }
        Some(leader)
    })
    .await;
    let mut leader_ch = None;
    for ch in &chans {
        if status(ch).await.expect("status").1 == leader {
            leader_ch = Some(ch.clone());
        }
    }
    let leader_ch = leader_ch.expect("the leader's channel");
    // Everything before the grant applied on the slow member too.
    let applied = status(&leader_ch).await.expect("status").2;
    eventually(30, "the slow member caught up", || async {
        (status(&chans[2]).await?.2 >= applied).then_some(())
    })
    .await;
    let granted = LeaseClient::new(leader_ch.clone())
        .lease_grant(LeaseGrantRequest { ttl: 30, id: 0 })
        .await
        .expect("grant")
        .into_inner();
    MaintenanceClient::new(leader_ch)
        .move_leader(etcd_proto::etcdserverpb::MoveLeaderRequest { target_id: slow })
        .await
        .expect("move leadership to the slow member");
    // On the new leader itself, and through a follower, which asks the
    // leader over the peer port: both wait for the leader's apply.
    let via = [chans[2].clone(), chans[0].clone()];
    let answers = via.iter().map(|ch| keep_alive_once(ch.clone(), granted.id));
    for (resp, path) in futures::future::join_all(answers)
        .await
        .into_iter()
        .zip(["on the new leader", "through a follower"])
    {
        assert_eq!((resp.id, resp.ttl), (granted.id, 30), "keep-alive {path}");
    }
}

#[cfg(feature = "failpoints")]
async fn keep_alive_once(ch: Channel, id: i64) -> etcd_proto::etcdserverpb::LeaseKeepAliveResponse {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(etcd_proto::etcdserverpb::LeaseKeepAliveRequest { id })
        .await
        .expect("send keep-alive");
    LeaseClient::new(ch)
        .lease_keep_alive(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("keep-alive")
        .into_inner()
        .message()
        .await
        .expect("keep-alive stream")
        .expect("a keep-alive response")
}

/// A member that lost its quorum answers "no leader" instead of hanging,
/// and ends watches of clients that require a leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_quorum_fails_fast_with_no_leader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let specs = specs(dir.path(), 3, &[]);
    let mut members: Vec<Member> = specs.iter().cloned().map(Member::launch).collect();
    let mut chans = Vec::new();
    for m in &members {
        chans.push(m.client().await);
    }
    put(&chans[0], "before", "1").await;
    // A watch that requires a leader, on the member that will be left alone.
    let (req_tx, req_rx) = tokio::sync::mpsc::channel(1);
    req_tx
        .send(etcd_proto::etcdserverpb::WatchRequest {
            request_union: Some(
                etcd_proto::etcdserverpb::watch_request::RequestUnion::CreateRequest(
                    etcd_proto::etcdserverpb::WatchCreateRequest {
                        key: b"w".to_vec(),
                        ..Default::default()
                    },
                ),
            ),
        })
        .await
        .expect("send create");
    let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(req_rx));
    request
        .metadata_mut()
        .insert("hasleader", "true".parse().expect("metadata value"));
    let mut watch = etcd_proto::etcdserverpb::watch_client::WatchClient::new(chans[0].clone())
        .watch(request)
        .await
        .expect("watch")
        .into_inner();
    assert!(
        watch
            .message()
            .await
            .expect("stream")
            .expect("created")
            .created
    );

    members[1].signal("-KILL");
    members[2].signal("-KILL");
    let alone = chans[0].clone();
    let msg = eventually(30, "a 'no leader' error", || async {
        let started = std::time::Instant::now();
        let err = KvClient::new(alone.clone())
            .put(PutRequest {
                key: b"after".to_vec(),
                value: b"x".to_vec(),
                ..Default::default()
            })
            .await
            .expect_err("no quorum, no write");
        assert!(started.elapsed().as_secs() < 10, "a write must not hang");
        (err.message() == "etcdserver: no leader").then(|| err.message().to_string())
    })
    .await;
    assert_eq!(msg, "etcdserver: no leader");
    let ended = tokio::time::timeout(std::time::Duration::from_secs(20), watch.message())
        .await
        .expect("the watch ends within three election timeouts");
    let status = ended.expect_err("the watch ends with an error");
    assert_eq!(status.message(), "etcdserver: no leader");
}

/// Raft traffic from another cluster (another `--initial-cluster-token`
/// gives another cluster ID) is refused at the peer port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_from_another_cluster_is_refused() {
    use etcd_proto::etcdrs::peer_client::PeerClient;
    use etcd_proto::etcdrs::{ClusterInfoRequest, RaftBatch};

    let dir = tempfile::tempdir().expect("tempdir");
    let spec = MemberSpec::single(&dir.path().join("m"), free_port(), &[]);
    let peer_url = spec.peer_url();
    let member = Member::launch(spec);
    member.client().await;
    let channel = tonic::transport::Endpoint::from_shared(peer_url)
        .expect("peer url")
        .connect()
        .await
        .expect("connect to the peer port");
    let mut peer = PeerClient::new(channel);
    let info = peer
        .cluster_info(ClusterInfoRequest {})
        .await
        .expect("cluster info")
        .into_inner();
    assert_ne!(info.cluster_id, 0);
    let foreign = RaftBatch {
        cluster_id: info.cluster_id ^ 1,
        from: 1,
        to: 2,
        messages: Vec::new(),
    };
    let err = peer
        .raft(tokio_stream::iter(vec![foreign]))
        .await
        .expect_err("a foreign cluster's traffic is refused");
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(
        err.message().contains("cluster ID mismatch"),
        "{}",
        err.message()
    );
}
