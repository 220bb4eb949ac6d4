//! Checkers of a fault-injection ("robustness") suite for etcd-rs, after etcd's
//! `tests/robustness`.
//!
//! A run records what clients asked and were told ([`history`]), and what watchers received
//! ([`watch`]); afterwards the checkers decide whether a correct etcd could have produced
//! those observations: [`linearizability`] searches for a linearization of each key's
//! operations against the per-key [`model`], [`revisions`] checks that no client saw the
//! revision go backwards, and [`watch`] checks etcd's watch guarantees.

pub mod history;
pub mod kvlog;
pub mod linearizability;
pub mod model;
pub mod revisions;
pub mod rng;
pub mod runner;
pub mod watch;
