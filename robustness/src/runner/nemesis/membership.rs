//! The membership faults, done as etcd requires them: remove a member, then add a *new* one
//! (a removed ID never returns); add a learner, start it, promote it (retried while etcd
//! says it is not in sync), then remove an old member so the size stays the same. Also
//! the member-list calls the crash points use to add and remove members.

use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::cluster_client::ClusterClient;
use etcd_proto::etcdserverpb::{
    Member as PbMember, MemberAddRequest, MemberListRequest, MemberPromoteRequest,
    MemberRemoveRequest,
};

use super::{cl, sleep_ms, Ctx};
use crate::runner::endpoints::Endpoints;

/// Any member's answer to MemberList.
pub(super) async fn member_list(endpoints: &Endpoints) -> Option<Vec<PbMember>> {
    for (_, ch) in endpoints.all() {
        let mut c = ClusterClient::new(ch);
        let r = tokio::time::timeout(
            Duration::from_secs(2),
            c.member_list(MemberListRequest { linearizable: true }),
        )
        .await;
        if let Ok(Ok(r)) = r {
            return Some(r.into_inner().members);
        }
    }
    None
}

/// The member with peer URL `url`; the list is read again for up to 10 s while no member
/// answers (a linearizable MemberList needs a quorum, e.g. right after a promotion).
pub(super) async fn member_by_url(endpoints: &Endpoints, url: &str) -> Option<PbMember> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(list) = member_list(endpoints).await {
            return list
                .into_iter()
                .find(|m| m.peer_ur_ls.iter().any(|u| u == url));
        }
        if Instant::now() >= deadline {
            return None;
        }
        sleep_ms(300).await;
    }
}

/// Removes member `id`, retrying until the member list no longer has it (bounded).
pub(super) async fn remove_member(endpoints: &Endpoints, id: u64, url: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        for (_, ch) in endpoints.all() {
            let mut c = ClusterClient::new(ch);
            let _ = tokio::time::timeout(
                Duration::from_secs(3),
                c.member_remove(MemberRemoveRequest { id }),
            )
            .await;
            if let Some(list) = member_list(endpoints).await {
                if !list
                    .iter()
                    .any(|m| m.id == id || m.peer_ur_ls.iter().any(|u| u == url))
                {
                    return true;
                }
            }
        }
        sleep_ms(300).await;
    }
    false
}

/// Adds a member with peer URL `url`; returns its ID and the member list after the add, or
/// the last refusal seen.
pub(super) async fn add_member(
    endpoints: &Endpoints,
    url: &str,
    learner: bool,
) -> Result<(u64, Vec<PbMember>), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last_refusal = "no member answered".to_string();
    while Instant::now() < deadline {
        for (_, ch) in endpoints.all() {
            let mut c = ClusterClient::new(ch);
            let r = tokio::time::timeout(
                Duration::from_secs(3),
                c.member_add(MemberAddRequest {
                    peer_ur_ls: vec![url.to_string()],
                    is_learner: learner,
                }),
            )
            .await;
            match r {
                Ok(Ok(r)) => {
                    let r = r.into_inner();
                    return Ok((r.member.map_or(0, |m| m.id), r.members));
                }
                Ok(Err(status)) => last_refusal = status.message().to_string(),
                Err(_) => last_refusal = "no answer in 3 s".into(),
            }
            // The add may have committed although the answer was lost.
            if let Some(list) = member_list(endpoints).await {
                if let Some(m) = list.iter().find(|m| m.peer_ur_ls.iter().any(|u| u == url)) {
                    return Ok((m.id, list));
                }
            }
        }
        sleep_ms(300).await;
    }
    Err(last_refusal)
}

/// A new member slot joins the cluster (as a learner or a voter); returns the slot.
pub(super) async fn add_new(ctx: &mut Ctx<'_>, learner: bool) -> Result<(usize, u64), String> {
    let (slot, url) = {
        let mut c = cl(ctx.cluster);
        let slot = c.new_slot().map_err(|e| format!("new slot: {e}"))?;
        (slot, c.members[slot].peer_url())
    };
    let (id, list) = match add_member(ctx.endpoints, &url, learner).await {
        Ok(added) => added,
        Err(last_refusal) => {
            cl(ctx.cluster).retire(slot);
            return Err(format!(
                "member add m{slot} never succeeded (last: {last_refusal})"
            ));
        }
    };
    let initial = {
        let c = cl(ctx.cluster);
        list.iter()
            .filter_map(|m| {
                let u = m.peer_ur_ls.first()?;
                let name = c
                    .members
                    .iter()
                    .find(|x| &x.peer_url() == u)
                    .map_or_else(|| m.name.clone(), |x| x.name.clone());
                Some(format!("{name}={u}"))
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    cl(ctx.cluster)
        .join(slot, initial)
        .map_err(|e| format!("start m{slot}: {e}"))?;
    let client_url = cl(ctx.cluster).members[slot].client_url();
    ctx.endpoints.add(slot, &client_url);
    Ok((slot, id))
}

/// Removes slot `victim` from the cluster; true when the removal is known to have happened.
pub(super) async fn remove_slot(ctx: &mut Ctx<'_>, victim: usize) -> Result<bool, String> {
    let url = cl(ctx.cluster).members[victim].peer_url();
    let Some(m) = member_by_url(ctx.endpoints, &url).await else {
        return Err(format!(
            "m{victim} not in the member list (or no member answered MemberList)"
        ));
    };
    let removed = remove_member(ctx.endpoints, m.id, &url).await;
    if removed {
        ctx.endpoints.remove(victim);
        cl(ctx.cluster).retire(victim);
    }
    Ok(removed)
}

pub(super) async fn remove_add(
    ctx: &mut Ctx<'_>,
    active: &[usize],
    leader_slot: Option<usize>,
) -> Result<String, String> {
    let victim = match leader_slot {
        Some(l) if ctx.rng.chance(40) => l,
        _ => active[ctx.rng.below(active.len() as u64) as usize],
    };
    if !remove_slot(ctx, victim).await? {
        let what = format!("remove m{victim}: not confirmed within 20 s");
        ctx.notes.push(what.clone());
        return Ok(what);
    }
    sleep_ms(500 + ctx.rng.below(1000)).await;
    let (slot, id) = add_new(ctx, false).await?;
    Ok(format!("remove m{victim}, add m{slot} ({id:x})"))
}

pub(super) async fn learner_promote(ctx: &mut Ctx<'_>, active: &[usize]) -> Result<String, String> {
    let (slot, id) = add_new(ctx, true).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut tries = 0;
    let mut promoted = false;
    while Instant::now() < deadline && !promoted {
        tries += 1;
        for (_, ch) in ctx.endpoints.all() {
            let mut c = ClusterClient::new(ch);
            let r = tokio::time::timeout(
                Duration::from_secs(3),
                c.member_promote(MemberPromoteRequest { id }),
            )
            .await;
            if let Ok(Ok(_)) = r {
                promoted = true;
                break;
            }
        }
        if !promoted {
            // The answer may have been lost after the promotion committed.
            let url = cl(ctx.cluster).members[slot].peer_url();
            if member_by_url(ctx.endpoints, &url)
                .await
                .is_some_and(|m| !m.is_learner)
            {
                promoted = true;
            } else {
                sleep_ms(300).await;
            }
        }
    }
    if !promoted {
        // Leave the size as it was: take the learner out again.
        let removed = remove_slot(ctx, slot).await?;
        let what = format!(
            "learner m{slot} not promoted after {tries} tries in 30 s; removed again: {removed}"
        );
        ctx.notes.push(what.clone());
        return Ok(what);
    }
    let victim = active[ctx.rng.below(active.len() as u64) as usize];
    let removed = remove_slot(ctx, victim).await?;
    Ok(format!(
        "learner m{slot} promoted after {tries} tries; removed m{victim}: {removed}"
    ))
}
