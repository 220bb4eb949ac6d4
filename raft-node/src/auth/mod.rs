//! Authentication above the store: who is asking, and the tokens that say so.
//!
//! The store holds the replicated part of auth (users, roles, permissions,
//! the enabled flag and revision) and decides what a user may do. This
//! module turns a gRPC request into the user it runs as ([`identity`]): the
//! `token` metadata issued by `Authenticate` ([`tokens`]: etcd's simple
//! tokens, replicated through the log so every member knows them, or signed
//! JWTs, which need no replication), or, with `--client-cert-auth`, the
//! common name of the verified client certificate. [`password`] hashes and
//! checks passwords (bcrypt) before anything reaches the log, so plain
//! passwords never enter the WAL.

pub mod identity;
pub mod jwt;
pub mod password;
pub mod tokens;

pub use identity::ClientCommonName;
pub use tokens::TokenProvider;
