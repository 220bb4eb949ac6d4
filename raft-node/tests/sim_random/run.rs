//! One seed's run: the simulation, the writes acknowledged so far, and the
//! steps and final checks.

use raft::eraftpb::ConfChangeType;
use raft_node::sim::{Sim, ELECTION_TICKS};
use rand::rngs::StdRng;
use rand::Rng;

use crate::actions::*;

pub(crate) struct Run {
    pub(crate) sim: Sim,
    pub(crate) rng: StdRng,
    /// The run's phases, one mix each, in turn.
    pub(crate) phases: Vec<Mix>,
    pub(crate) mix: usize,
    /// Every member ever started and not removed.
    pub(crate) members: Vec<u64>,
    /// Members that crashed or stopped and are to be restarted.
    pub(crate) down: Vec<u64>,
    pub(crate) next_member: u64,
    /// Members 1..=first_members started the cluster.
    pub(crate) first_members: u64,
    pub(crate) acknowledged: Vec<String>,
    pub(crate) log: Vec<String>,
}

impl Run {
    pub(crate) fn pick(&mut self, from: &[u64]) -> Option<u64> {
        (!from.is_empty()).then(|| from[self.rng.gen_range(0..from.len())])
    }

    pub(crate) fn step(&mut self, i: usize) {
        let running = self.sim.running();
        self.mix = i * self.phases.len() / STEPS;
        let mix = &self.phases[self.mix];
        let (lagging_restart, tick_one) = (mix.lagging_restart, mix.tick_one);
        let action = mix.pick(&mut self.rng);
        let what = match action {
            Action::Put => {
                let Some(via) = self.pick(&running) else {
                    return;
                };
                self.sim
                    .put(via, &format!("k{i}"), &format!("v{i}"))
                    .unwrap();
                format!("put k{i} via {via}")
            }
            Action::Tick => {
                let n = self.rng.gen_range(1..=ELECTION_TICKS);
                let one = if self.rng.gen_bool(tick_one) {
                    self.pick(&running)
                } else {
                    None
                };
                self.sim.tick(one, n).unwrap();
                format!("tick {n} {one:?}")
            }
            Action::Deliver => format!("deliver {}", self.sim.deliver().unwrap()),
            Action::DeliverRounds => {
                let rounds = self.rng.gen_range(1..=2);
                let n = self.sim.deliver_rounds(rounds, false).unwrap();
                format!("deliver {n} in {rounds} rounds")
            }
            Action::ToggleLag => {
                let Some(id) = self.pick(&running) else {
                    return;
                };
                let lag = !self.sim.is_lagging(id);
                self.sim.set_lagging(id, lag).unwrap();
                format!("lag {id} {lag}")
            }
            Action::Apply => {
                let Some(id) = self.pick(&running) else {
                    return;
                };
                let n = self.rng.gen_range(1..=3);
                format!("apply {id} {}", self.sim.apply(id, n).unwrap())
            }
            Action::PowerLoss => {
                for id in running {
                    self.sim.power_loss(id).unwrap();
                    self.down.push(id);
                }
                "power loss of every member".into()
            }
            Action::Bounce => {
                let Some(id) = self.pick(&running) else {
                    return;
                };
                let lagging = self.rng.gen_bool(lagging_restart);
                self.sim.restart(id, lagging).unwrap();
                format!("bounce {id} lagging={lagging}")
            }
            Action::Crash | Action::CrashLeader | Action::Stop => {
                if running.len() < 2 {
                    return;
                }
                let target = if action == Action::CrashLeader {
                    self.sim.leader()
                } else {
                    self.pick(&running)
                };
                let Some(id) = target else {
                    return;
                };
                self.down.push(id);
                if action != Action::Stop {
                    self.sim.crash(id);
                    format!("crash {id}")
                } else {
                    self.sim.stop(id).unwrap();
                    format!("stop {id}")
                }
            }
            Action::Restart => {
                if self.down.is_empty() {
                    return;
                }
                let id = self
                    .down
                    .swap_remove(self.rng.gen_range(0..self.down.len()));
                let lagging = self.rng.gen_bool(lagging_restart);
                self.sim.restart(id, lagging).unwrap();
                format!("restart {id} lagging={lagging}")
            }
            Action::Partition => {
                let mut ids = self.members.clone();
                let cut = self.rng.gen_range(1..ids.len().max(2));
                let b = ids.split_off(cut.min(ids.len()));
                self.sim.partition(&ids, &b);
                format!("partition {ids:?} / {b:?}")
            }
            Action::IsolateFollower => {
                let leader = self.sim.leader();
                let followers: Vec<u64> = running
                    .iter()
                    .copied()
                    .filter(|id| Some(*id) != leader)
                    .collect();
                let lagging: Vec<u64> = followers
                    .iter()
                    .copied()
                    .filter(|id| self.sim.is_lagging(*id))
                    .collect();
                let Some(id) = self.pick(if lagging.is_empty() {
                    &followers
                } else {
                    &lagging
                }) else {
                    return;
                };
                let rest: Vec<u64> = self.members.iter().copied().filter(|m| *m != id).collect();
                self.sim.heal();
                self.sim.partition(&[id], &rest);
                format!("isolate {id}")
            }
            Action::Heal => {
                self.sim.heal();
                "heal".into()
            }
            Action::Add => self.add_member(),
            Action::Remove => self.remove_member(),
        };
        self.log.push(what);
    }

    pub(crate) fn add_member(&mut self) -> String {
        let Some(leader) = self.sim.leader() else {
            return "add: no leader".into();
        };
        if self.members.len() >= 5 {
            return "add: enough members".into();
        }
        let id = self.next_member;
        self.next_member += 1;
        let kind = if self.rng.gen_bool(self.phases[self.mix].voter) {
            ConfChangeType::AddNode
        } else {
            ConfChangeType::AddLearnerNode
        };
        let outcome = self.sim.conf_change(leader, kind, id).unwrap();
        self.sim.join(id).unwrap();
        self.members.push(id);
        format!("{kind:?} {id} via {leader}: {outcome}")
    }

    pub(crate) fn remove_member(&mut self) -> String {
        let Some(leader) = self.sim.leader() else {
            return "remove: no leader".into();
        };
        // Only members added during the run, so a quorum of the first
        // ones can always come back.
        let first = self.first_members;
        let added: Vec<u64> = self
            .members
            .iter()
            .copied()
            .filter(|m| *m > first)
            .collect();
        let Some(id) = self.pick(&added) else {
            return "remove: none added".into();
        };
        let outcome = self
            .sim
            .conf_change(leader, ConfChangeType::RemoveNode, id)
            .unwrap();
        if outcome == "proposed" {
            // Most likely to commit; if it does not, the member stays and is
            // only no longer chosen here.
            self.members.retain(|m| *m != id);
        }
        format!("remove {id} via {leader}: {outcome}")
    }

    /// Restarts and heals everything, releases every apply path, and lets
    /// the cluster settle with a final write.
    pub(crate) fn settle(&mut self) {
        self.sim.heal();
        for id in std::mem::take(&mut self.down) {
            if !self.sim.running().contains(&id) {
                self.sim.restart(id, false).unwrap();
            }
        }
        for id in self.sim.running() {
            self.sim.set_lagging(id, false).unwrap();
        }
        for round in 0..20 {
            // Election timeouts are fixed in the simulation: members timed
            // out together split the vote, so one member at a time does.
            let running = self.sim.running();
            let candidate = running[round % running.len()];
            self.sim.tick(Some(candidate), ELECTION_TICKS).unwrap();
            self.sim.deliver().unwrap();
            if std::env::var("SIM_TRACE").is_ok() {
                eprintln!(
                    "round {round} candidate {candidate}\n{}",
                    self.sim.status().join("\n")
                );
                for id in self.sim.running() {
                    eprintln!("  conf {id}: {:?}", self.sim.conf(id));
                }
            }
            // A leader that applied its own removal is on its way out: the
            // remaining members elect another.
            let leader = self
                .sim
                .leader()
                .filter(|l| self.sim.members_of(*l).contains(l));
            if let Some(leader) = leader {
                self.sim.put(leader, "final", &round.to_string()).unwrap();
                self.sim.tick(None, 1).unwrap();
                self.sim.deliver().unwrap();
                self.sim.tick(None, 1).unwrap();
                self.sim.deliver().unwrap();
                let results = self.sim.results();
                self.log
                    .push(format!("settle round {round} via {leader}: {results:?}"));
                self.record(&results);
                if results
                    .iter()
                    .any(|r| r.starts_with("put final=") && r.ends_with(": ok"))
                {
                    return;
                }
            }
        }
        panic!(
            "the cluster did not settle\n{}\n{}",
            self.sim.status().join("\n"),
            self.trace()
        );
    }

    pub(crate) fn record(&mut self, results: &[String]) {
        for r in results {
            assert!(!r.starts_with("VIOLATION"), "{r}\n{}", self.trace());
            // A member stops on its own only when it was removed.
            if r.starts_with('n') && r.contains(" stopped: ") {
                assert!(
                    r.contains("permanently removed"),
                    "a member failed: {r}\n{}",
                    self.trace()
                );
            }
            if let Some(put) = r.strip_suffix(": ok") {
                self.acknowledged.push(put.to_string());
            }
        }
    }

    pub(crate) fn trace(&self) -> String {
        format!("steps:\n  {}", self.log.join("\n  "))
    }
}
