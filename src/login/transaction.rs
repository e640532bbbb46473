//! Pending logins between the password step and the code: server-side state keyed by
//! the SHA-256 of a random transaction id. The `mfa_token` and `oob_code` stay here and
//! never reach the client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use tokio::sync::Mutex;

use crate::okta::Channel;
use crate::secret::{hash_token, Secret, TokenHash};

/// How long an ended transaction is remembered, so that a late call gets `410` rather
/// than `404`.
const TOMBSTONE_TTL: Duration = Duration::from_secs(15 * 60);

/// A login waiting for its phone code.
#[derive(Debug)]
pub struct Transaction {
    /// The username as typed at login.
    pub username: String,
    pub mfa_token: Secret<String>,
    /// The latest challenge; `None` until a code was sent.
    pub challenge: Option<Challenge>,
    /// Channels Okta accepted a challenge for in this transaction.
    pub channels_sent: Vec<Channel>,
    pub attempts_remaining: u32,
    pub expires_at: Instant,
    /// Set once the transaction ended, for callers that waited on its lock.
    pub ended: Option<Ended>,
}

/// The latest code sent for a transaction.
#[derive(Debug)]
pub struct Challenge {
    pub oob_code: Secret<String>,
    pub channel: Channel,
    pub expires_at: Instant,
}

/// The reason a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    Expired,
    /// The last allowed wrong code was entered.
    AttemptsExhausted,
    /// The code was verified and a session created.
    Completed,
}

/// The result of looking a transaction up.
pub enum Lookup {
    Live(Arc<Mutex<Transaction>>),
    Ended(Ended),
    Unknown,
}

/// Live transactions and recently ended ones.
pub struct TransactionStore {
    live: Cache<TokenHash, Arc<Mutex<Transaction>>>,
    ended: Cache<TokenHash, Ended>,
    lifetime: Duration,
}

// === impl TransactionStore ===

impl TransactionStore {
    pub fn new(lifetime: Duration, capacity: u64) -> Self {
        Self {
            // Entries outlive their expiry by a minute so that a call just after it
            // finds the entry and gets "expired" rather than "unknown".
            live: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(lifetime + Duration::from_secs(60))
                .build(),
            ended: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(TOMBSTONE_TTL)
                .build(),
            lifetime,
        }
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Stores a new transaction and returns its id.
    pub async fn create(
        &self,
        username: String,
        mfa_token: Secret<String>,
        attempts: u32,
    ) -> (Secret<String>, Instant) {
        let id = new_transaction_id();
        let expires_at = Instant::now() + self.lifetime;
        let transaction = Transaction {
            username,
            mfa_token,
            challenge: None,
            channels_sent: Vec::new(),
            attempts_remaining: attempts,
            expires_at,
            ended: None,
        };
        self.live
            .insert(id.hash(), Arc::new(Mutex::new(transaction)))
            .await;
        (id, expires_at)
    }

    pub async fn lookup(&self, id: &str) -> Lookup {
        let key = hash_token(id);
        if let Some(transaction) = self.live.get(&key).await {
            return Lookup::Live(transaction);
        }
        match self.ended.get(&key).await {
            Some(reason) => Lookup::Ended(reason),
            None => Lookup::Unknown,
        }
    }

    /// Ends a transaction: marks it, drops its secrets and leaves a tombstone.
    pub async fn end(&self, id: &str, transaction: &mut Transaction, reason: Ended) {
        let key = hash_token(id);
        transaction.ended = Some(reason);
        transaction.challenge = None;
        transaction.mfa_token = Secret::new(String::new());
        self.live.invalidate(&key).await;
        self.ended.insert(key, reason).await;
    }
}

/// Generates a random 192-bit transaction id, base64url without padding.
fn new_transaction_id() -> Secret<String> {
    use base64::Engine;
    use rand::RngCore;

    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ended_transaction_leaves_tombstone() {
        let store = TransactionStore::new(Duration::from_secs(60), 10);
        let (id, _) = store
            .create("alice".into(), Secret::new("mfa".into()), 3)
            .await;
        let Lookup::Live(live) = store.lookup(id.expose()).await else {
            panic!("new transaction is not live");
        };
        let mut transaction = live.lock().await;
        store
            .end(id.expose(), &mut transaction, Ended::Completed)
            .await;
        assert!(transaction.mfa_token.is_empty());
        drop(transaction);
        assert!(matches!(
            store.lookup(id.expose()).await,
            Lookup::Ended(Ended::Completed)
        ));
        assert!(matches!(store.lookup("nope").await, Lookup::Unknown));
    }

    #[test]
    fn transaction_ids_are_long_and_distinct() {
        let a = new_transaction_id();
        let b = new_transaction_id();
        assert_eq!(a.expose().len(), 32);
        assert_ne!(a.expose(), b.expose());
    }
}
