//! What a seed's schedule is made of: the actions, and the mix a seed draws
//! them from.

use rand::rngs::StdRng;
use rand::Rng;

pub(crate) const STEPS: usize = 250;

/// What one step of a schedule can do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Action {
    Put,
    Tick,
    Deliver,
    /// Part of an exchange: requests arrive, their replies wait.
    DeliverRounds,
    ToggleLag,
    Apply,
    Crash,
    /// The leader crashes (the member whose loss changes the most).
    CrashLeader,
    /// A member crashes and restarts at once.
    Bounce,
    /// The whole cluster loses power at once.
    PowerLoss,
    Stop,
    Restart,
    Partition,
    /// Heals, then cuts one follower (one holding its apply path back, if
    /// any) off from the others.
    IsolateFollower,
    Heal,
    Add,
    Remove,
}

impl Action {
    const ALL: [Action; 17] = [
        Action::Put,
        Action::Tick,
        Action::Deliver,
        Action::DeliverRounds,
        Action::ToggleLag,
        Action::Apply,
        Action::Crash,
        Action::CrashLeader,
        Action::Bounce,
        Action::PowerLoss,
        Action::Stop,
        Action::Restart,
        Action::Partition,
        Action::IsolateFollower,
        Action::Heal,
        Action::Add,
        Action::Remove,
    ];

    /// Without these nothing moves: every mix has them.
    pub(crate) fn essential(self) -> bool {
        matches!(self, Action::Put | Action::Tick | Action::Deliver)
    }

    pub(crate) fn takes_members_down(self) -> bool {
        matches!(
            self,
            Action::Crash | Action::CrashLeader | Action::PowerLoss | Action::Stop
        )
    }
}

/// A seed's mix of actions (swarm testing): most seeds leave some actions
/// out and weigh the rest unevenly, so that what remains happens often
/// enough to combine into rare schedules (a member that grew a cluster
/// from one crashes, restarts with its apply path held back and times out
/// first). Uniform choices over every action almost never build those.
pub(crate) struct Mix {
    pub(crate) weights: Vec<(Action, u32)>,
    /// Chance that a restarted member holds its apply path back.
    pub(crate) lagging_restart: f64,
    /// Chance that a tick reaches one member alone (it times out first).
    pub(crate) tick_one: f64,
    /// Chance that an added member is a voter rather than a learner.
    pub(crate) voter: f64,
}

impl Mix {
    pub(crate) fn draw(rng: &mut StdRng) -> Mix {
        let mut weights = Vec::new();
        for action in Action::ALL {
            if action.essential() || rng.gen_bool(0.6) {
                weights.push((action, rng.gen_range(1..=10)));
            }
        }
        let downs = weights.iter().any(|(a, _)| a.takes_members_down());
        if downs && !weights.iter().any(|(a, _)| *a == Action::Restart) {
            weights.push((Action::Restart, rng.gen_range(1..=10)));
        }
        Mix {
            weights,
            lagging_restart: rng.gen_range(0.0..1.0),
            tick_one: rng.gen_range(0.0..1.0),
            voter: rng.gen_range(0.0..1.0),
        }
    }

    /// The schedules of hand-off defect 1: a cluster grown from one member
    /// keeps changing its membership while members crash and come back
    /// with their apply path held back, one of them timing out before the
    /// others.
    pub(crate) fn membership_and_crashes() -> Mix {
        use Action::*;
        Mix {
            weights: vec![
                (Put, 2),
                (Tick, 4),
                (Deliver, 4),
                (Apply, 1),
                (Add, 3),
                (Remove, 2),
                (Crash, 1),
                (CrashLeader, 1),
                (Bounce, 1),
                (Restart, 3),
            ],
            lagging_restart: 0.7,
            tick_one: 0.9,
            voter: 0.8,
        }
    }

    /// The schedules of hand-off defect 4, in three phases: followers hold
    /// their apply path back while membership changes commit...
    pub(crate) fn backlog() -> Mix {
        use Action::*;
        Mix {
            weights: vec![(Put, 2), (Tick, 1), (Deliver, 4), (ToggleLag, 2), (Add, 3)],
            lagging_restart: 0.5,
            tick_one: 0.6,
            voter: 0.5,
        }
    }

    /// ...some are cut off while the membership changes back and writes go
    /// on until the leader's log moves past them...
    pub(crate) fn cut_off() -> Mix {
        use Action::*;
        Mix {
            weights: vec![
                (Put, 6),
                (Tick, 2),
                (Deliver, 3),
                (IsolateFollower, 1),
                (Add, 1),
                (Remove, 3),
            ],
            lagging_restart: 0.5,
            tick_one: 0.6,
            voter: 0.5,
        }
    }

    /// ...and come back to a leader that can only send them a snapshot,
    /// behind what they still have to apply.
    pub(crate) fn rejoin() -> Mix {
        use Action::*;
        Mix {
            weights: vec![
                (Put, 2),
                (Tick, 2),
                (Deliver, 4),
                (Heal, 3),
                (Apply, 2),
                (ToggleLag, 1),
            ],
            lagging_restart: 0.5,
            tick_one: 0.6,
            voter: 0.5,
        }
    }

    pub(crate) fn pick(&self, rng: &mut StdRng) -> Action {
        let total: u32 = self.weights.iter().map(|(_, w)| w).sum();
        let mut roll = rng.gen_range(0..total);
        for (action, weight) in &self.weights {
            if roll < *weight {
                return *action;
            }
            roll -= weight;
        }
        unreachable!("a roll below the total weight")
    }
}
