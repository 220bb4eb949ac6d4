//! A cluster's membership while a script runs: members started and joined,
//! the member list as `etcdctl member list -w json` shows it, member IDs
//! learnt from it, leaders pinned, exits expected.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use regex::Regex;

use crate::process::{Outcome, POLL_INTERVAL};

use super::*;

impl Cluster {
    /// `@start-member NAME FLAGS...`: starts a spare member that was added
    /// with `member add`, as etcdctl's `member add` output tells one to:
    /// `--initial-cluster` lists the current members (the new one under
    /// NAME) and `--initial-cluster-state existing`. Ready once it answers
    /// `endpoint status` (a learner serves no health check) and every other
    /// running member lists it as started.
    pub fn start_member(&mut self, name: &str, flags: &[String]) -> Result<(), String> {
        let i = self.index(name).ok_or(format!("no member {name}"))?;
        if self.members[i].is_running() {
            return Err(format!("member {name} is already running"));
        }
        let list = self.member_list()?;
        let mut initial_cluster = Vec::new();
        for entry in &list.members {
            let entry_name = if entry.name.is_empty() {
                // Unstarted members have no name yet: recognise ours by URL.
                self.members
                    .iter()
                    .find(|m| entry.peer_urls.contains(&m.peer_url))
                    .map_or_else(String::new, |m| m.name.clone())
            } else {
                entry.name.clone()
            };
            for url in &entry.peer_urls {
                initial_cluster.push(format!("{entry_name}={url}"));
            }
        }
        let mut args = self.base_args(i, &initial_cluster.join(","));
        args.extend([
            "--initial-cluster-state".to_string(),
            "existing".to_string(),
        ]);
        args.extend(self.extra_flags.iter().cloned());
        args.extend(flags.iter().cloned());
        self.spawn(i, args)?;
        let deadline = Instant::now() + STARTUP_DEADLINE;
        self.wait_ready(i, &["endpoint", "status"], deadline)
            .map_err(StartError::into_message)?;
        self.wait_listed_everywhere(name, deadline)?;
        // The script may still need the ID of a member added without
        // `member add` output the harness could read.
        self.learn_ids_until(deadline, |c| c.ids.contains_key(name))
    }

    /// Waits until every other running member lists `name` as started
    /// (with its name): etcd serves clients only after the new member has
    /// published itself, but other members apply that a little later.
    pub(super) fn wait_listed_everywhere(
        &self,
        name: &str,
        deadline: Instant,
    ) -> Result<(), String> {
        let others: Vec<(String, String)> = self
            .members
            .iter()
            .filter(|m| m.is_running() && m.name != name)
            .map(|m| (m.name.clone(), m.client_url.clone()))
            .collect();
        for (other, url) in others {
            loop {
                let out = etcdctl_raw(
                    &self.etcdctl,
                    std::slice::from_ref(&url),
                    &["member", "list", "-w", "json"],
                )?;
                let listed = out.outcome == Outcome::Exited(0)
                    && parse_member_list(&out.stdout)
                        .members
                        .iter()
                        .any(|e| e.name == name);
                if listed {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "{name} answers `endpoint status`, but {other} does not list it as \
                         started within {}s: {}{}",
                        STARTUP_DEADLINE.as_secs(),
                        out.stdout,
                        out.stderr
                    ));
                }
                std::thread::sleep(POLL_INTERVAL * 2);
            }
        }
        Ok(())
    }

    /// `@expect-exit NAME SECS`: waits for the member to exit by itself.
    /// Returns the compared text: how it ended, or that it is still running.
    pub fn expect_exit(&mut self, name: &str, deadline: Duration) -> String {
        let Some(i) = self.index(name) else {
            return format!("no member {name}");
        };
        let end = Instant::now() + deadline;
        loop {
            self.poll_exit(i);
            match &self.members[i].state {
                MemberState::Exited(status) => {
                    return match status.code() {
                        Some(code) => format!("{name} exited with code {code}"),
                        None => format!("{name} was killed by a signal"),
                    }
                }
                MemberState::Running(_) if Instant::now() < end => {
                    std::thread::sleep(POLL_INTERVAL)
                }
                MemberState::Running(_) => {
                    return format!("{name} still running after {}s", deadline.as_secs())
                }
                MemberState::Killed => return format!("{name} was killed by the harness"),
                MemberState::NotStarted => return format!("{name} was never started"),
            }
        }
    }

    /// `@leader NAME`: makes NAME the leader (`etcdctl move-leader` if it is
    /// not) and waits until every running member reports it as leader.
    /// Returns the compared text.
    pub fn pin_leader(&mut self, name: &str) -> Result<String, String> {
        let Some(&target) = self.ids.get(name) else {
            return Err(format!("the member ID of {name} is not known"));
        };
        let end = Instant::now() + LEADER_DEADLINE;
        let mut last_move: Option<Instant> = None;
        let mut last_seen;
        loop {
            let running: Vec<String> = self
                .members
                .iter()
                .filter(|m| m.is_running())
                .map(|m| m.client_url.clone())
                .collect();
            let out = etcdctl_raw(
                &self.etcdctl,
                &running,
                &["endpoint", "status", "-w", "json"],
            )?;
            let leaders = parse_leaders(&out.stdout);
            let agreed = leaders.len() == running.len() && leaders.values().all(|&l| l == target);
            if agreed {
                return Ok(format!("leader: {name}"));
            }
            last_seen = format!(
                "leaders reported (member -> leader): {}",
                leaders
                    .iter()
                    .map(|(m, l)| format!("{} -> {}", self.id_name(*m), self.id_name(*l)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let someone_else = leaders.values().any(|&l| l != 0 && l != target);
            let due = last_move.is_none_or(|t| t.elapsed() >= Duration::from_secs(2));
            if someone_else && due {
                last_move = Some(Instant::now());
                let _ = etcdctl_raw(
                    &self.etcdctl,
                    &running,
                    &["move-leader", &format!("{target:x}")],
                );
            }
            if Instant::now() >= end {
                return Ok(format!(
                    "leader: {name} not confirmed within {}s; {last_seen}",
                    LEADER_DEADLINE.as_secs()
                ));
            }
            std::thread::sleep(POLL_INTERVAL * 4);
        }
    }

    pub(super) fn id_name(&self, id: u64) -> String {
        self.ids
            .iter()
            .find(|(_, &v)| v == id)
            .map_or_else(|| format!("{id:x}"), |(n, _)| n.clone())
    }

    /// `member list -w json` from a running initial member (any member if
    /// none), parsed.
    pub fn member_list(&self) -> Result<MemberList, String> {
        let mut endpoints = self.default_endpoints();
        if !self.members.iter().any(|m| m.initial && m.is_running()) {
            endpoints = self
                .members
                .iter()
                .filter(|m| m.is_running())
                .map(|m| m.client_url.clone())
                .collect();
        }
        let out = etcdctl_raw(&self.etcdctl, &endpoints, &["member", "list", "-w", "json"])?;
        if out.outcome != Outcome::Exited(0) {
            return Err(format!(
                "`etcdctl member list` failed ({}): {}{}",
                out.outcome, out.stdout, out.stderr
            ));
        }
        Ok(parse_member_list(&out.stdout))
    }

    /// Polls `member list` until `done` holds (or the deadline passes),
    /// recording member IDs by name (or by peer URL for unnamed members).
    pub(super) fn learn_ids_until(
        &mut self,
        deadline: Instant,
        done: impl Fn(&Self) -> bool,
    ) -> Result<(), String> {
        loop {
            let list = self.member_list();
            if let Ok(list) = &list {
                self.learn_from_list(list);
                if done(self) {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{}: member list does not name every member within the deadline: {:?}",
                    self.label, list
                ));
            }
            std::thread::sleep(POLL_INTERVAL * 2);
        }
    }

    pub(super) fn learn_from_list(&mut self, list: &MemberList) {
        if list.cluster_id != 0 {
            self.cluster_id = Some(list.cluster_id);
        }
        for entry in &list.members {
            let by_name = self.index(&entry.name).filter(|_| !entry.name.is_empty());
            let by_url = || {
                self.members
                    .iter()
                    .position(|m| entry.peer_urls.contains(&m.peer_url))
            };
            if let Some(i) = by_name.or_else(by_url) {
                let name = self.members[i].name.clone();
                self.ids.entry(name).or_insert(entry.id);
            }
        }
    }

    /// Learns the ID of a member from `etcdctl member add` output
    /// (`Member ID added to cluster CID` plus the new member's peer URLs).
    pub fn learn_from_member_add(&mut self, stdout: &str) {
        static ADDED: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"Member +([0-9a-f]+) added to cluster +([0-9a-f]+)")
                .expect("member add regex is valid")
        });
        static PEERS: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r#"ETCD_INITIAL_ADVERTISE_PEER_URLS="([^"]*)""#)
                .expect("peer urls regex is valid")
        });
        let (Some(added), Some(peers)) = (ADDED.captures(stdout), PEERS.captures(stdout)) else {
            return;
        };
        let (Ok(id), Ok(cid)) = (
            u64::from_str_radix(&added[1], 16),
            u64::from_str_radix(&added[2], 16),
        ) else {
            return;
        };
        let urls: Vec<&str> = peers[1].split(',').collect();
        if let Some(m) = self
            .members
            .iter()
            .find(|m| urls.contains(&m.peer_url.as_str()))
        {
            self.ids.insert(m.name.clone(), id);
        }
        self.cluster_id.get_or_insert(cid);
    }
}

/// Parsed `etcdctl member list -w json`.
#[derive(Debug, Default, Clone)]
pub struct MemberList {
    pub cluster_id: u64,
    pub members: Vec<MemberEntry>,
}

#[derive(Debug, Clone)]
pub struct MemberEntry {
    pub id: u64,
    /// Empty until the member has started and published itself.
    pub name: String,
    pub peer_urls: Vec<String>,
}

/// Parses etcdctl's JSON member list (etcdctl prints the fields of each
/// member in a fixed order, and omits an empty name).
pub fn parse_member_list(json: &str) -> MemberList {
    static CLUSTER: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#""cluster_id":(\d+)"#).expect("cluster id regex is valid"));
    static MEMBER: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"\{"ID":(\d+)(?:,"name":"([^"]*)")?,"peerURLs":\[([^\]]*)\]"#)
            .expect("member regex is valid")
    });
    let cluster_id = CLUSTER
        .captures(json)
        .and_then(|c| c[1].parse().ok())
        .unwrap_or(0);
    let members = MEMBER
        .captures_iter(json)
        .filter_map(|c| {
            Some(MemberEntry {
                id: c[1].parse().ok()?,
                name: c
                    .get(2)
                    .map_or_else(String::new, |m| m.as_str().to_string()),
                peer_urls: c[3]
                    .split(',')
                    .map(|u| u.trim_matches('"').to_string())
                    .filter(|u| !u.is_empty())
                    .collect(),
            })
        })
        .collect();
    MemberList {
        cluster_id,
        members,
    }
}

/// Parses `endpoint status -w json`: member ID -> the leader it reports.
pub(super) fn parse_leaders(json: &str) -> BTreeMap<u64, u64> {
    static STATUS: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#""member_id":(\d+)[^}]*\}[^}]*?"leader":(\d+)"#)
            .expect("status regex is valid")
    });
    STATUS
        .captures_iter(json)
        .filter_map(|c| Some((c[1].parse().ok()?, c[2].parse().ok()?)))
        .collect()
}
