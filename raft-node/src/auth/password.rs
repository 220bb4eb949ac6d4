//! Password hashing with bcrypt, off the async runtime (a check costs tens
//! of milliseconds by design).

use crate::error::ServerError;

/// Hashes `password` with bcrypt at `cost` (etcd's `--bcrypt-cost`).
pub async fn hash(password: String, cost: u32) -> Result<String, ServerError> {
    tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
        .await
        .map_err(|e| ServerError::Internal(format!("password hashing: {e}")))?
        .map_err(|e| ServerError::Internal(format!("password hashing: {e}")))
}

/// True if `password` matches the stored bcrypt `hash`. A malformed or
/// empty hash (a user added without a password) never matches.
pub async fn verify(password: String, hash: String) -> bool {
    if hash.is_empty() {
        return false;
    }
    tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
        .await
        .unwrap_or(false)
}

/// The cost to use: etcd falls back to the default for values bcrypt
/// refuses.
pub fn effective_cost(configured: u32) -> u32 {
    if (4..=31).contains(&configured) {
        configured
    } else {
        bcrypt::DEFAULT_COST
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let a = hash("secret".into(), 4).await.unwrap();
        let b = hash("secret".into(), 4).await.unwrap();
        assert_ne!(a, b, "salted");
        assert!(!a.contains("secret"));
        assert!(verify("secret".into(), a.clone()).await);
        assert!(!verify("wrong".into(), a).await);
        assert!(!verify("".into(), String::new()).await);
        assert_eq!(effective_cost(2), bcrypt::DEFAULT_COST);
        assert_eq!(effective_cost(12), 12);
    }
}
