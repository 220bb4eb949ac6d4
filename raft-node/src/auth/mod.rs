//! Authentication above the store: who is asking, and the tokens that say so.
//!
//! The store holds the replicated part of auth (users, roles, permissions,
//! the enabled flag and revision) and decides what a user may do. This
//! server turns a gRPC request into the user it runs as (`server/identity.rs`): the
//! `token` metadata issued by `Authenticate` ([`tokens`]: etcd's simple
//! tokens, replicated through the log so every member knows them, or signed
//! JWTs, which need no replication), or, with `--client-cert-auth`, the
//! common name of the verified client certificate. [`password`] hashes and
//! checks passwords (bcrypt) before anything reaches the log, so plain
//! passwords never enter the WAL.

pub mod jwt;
pub mod password;
pub mod tokens;

pub use tokens::TokenProvider;

/// The common name of the client certificate the TLS handshake verified,
/// attached to every request of the connection by the listener.
#[derive(Clone, Debug)]
pub struct ClientCommonName(pub String);
