//! All mutable emulator state, kept in one struct behind one `std::sync::Mutex`.
//! Handlers lock it only between awaits, never across one.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde_json::Value;
use tokio::sync::broadcast;

use super::config::{Channel, ClientConfig, EmulatorConfig, Settings, UserConfig};
use super::keys::SigningKey;
use super::OutboxMessage;

/// Authorization server a request addressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Server {
    /// The org authorization server (`/oauth2/v1/…`, issuer = base URL).
    Org,
    /// A custom authorization server (`/oauth2/{id}/v1/…`).
    Custom(String),
}

/// State shared by every connection of one emulator.
pub struct Shared {
    pub key: SigningKey,
    /// `http://HOST:PORT` of the listener.
    pub base_url: String,
    pub inner: Mutex<Inner>,
    /// Sender of every message put into the outbox; lives as long as the emulator.
    pub outbox_tx: broadcast::Sender<OutboxMessage>,
}

/// The mutable part of [`Shared`].
pub struct Inner {
    pub users: Vec<UserConfig>,
    /// Clients, changed in place by `PUT /api/v1/apps/{appId}`.
    pub clients: Vec<ClientConfig>,
    pub settings: Settings,
    /// Open MFA transactions by `mfa_token`; removed on success or reset.
    pub mfa: HashMap<String, MfaTransaction>,
    /// Challenges by `oob_code`.
    pub oob: HashMap<String, OobChallenge>,
    /// Access tokens by their JWT text.
    pub access: HashMap<String, AccessRecord>,
    /// ID tokens by their JWT text.
    pub id_tokens: HashMap<String, IdRecord>,
    /// Refresh tokens by their opaque value.
    pub refresh: HashMap<String, RefreshRecord>,
    pub outbox: Vec<OutboxMessage>,
    /// Calls per endpoint family, for `/__emulator/stats`.
    pub stats: BTreeMap<String, u64>,
    pub faults: Vec<Fault>,
    pub limits: Limits,
    /// Source of grant ids that tie access tokens to their refresh token.
    pub next_grant: u64,
}

/// One password step that needs a phone factor.
pub struct MfaTransaction {
    pub server: Server,
    pub client_id: String,
    pub username: String,
    pub scopes: Vec<String>,
    pub auth_time: u64,
    pub expires_at: Instant,
}

/// One SMS or voice challenge.
pub struct OobChallenge {
    pub mfa_token: String,
    pub channel: Channel,
    pub code: String,
    pub expires_at: Instant,
    /// Set when the code was redeemed or a resend replaced this challenge.
    pub spent: bool,
}

pub struct AccessRecord {
    pub server: Server,
    pub client_id: String,
    pub username: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
    pub expires_at: Instant,
    pub grant_id: u64,
    pub revoked: bool,
}

pub struct IdRecord {
    pub server: Server,
    pub client_id: String,
    pub claims: Value,
    pub expires_at: Instant,
    pub grant_id: u64,
    pub revoked: bool,
}

pub struct RefreshRecord {
    pub server: Server,
    pub client_id: String,
    pub username: String,
    pub scopes: Vec<String>,
    pub auth_time: u64,
    pub amr: Vec<String>,
    pub iat: u64,
    pub exp: u64,
    pub expires_at: Instant,
    pub grant_id: u64,
    pub revoked: bool,
    /// After a rotation, the instant until which this old token is still accepted.
    pub usable_until: Option<Instant>,
}

/// A failure injected through `POST /__emulator/faults`.
#[derive(Clone, Debug)]
pub struct Fault {
    pub endpoint: String,
    pub kind: FaultKind,
    pub remaining: u32,
}

#[derive(Clone, Debug)]
pub enum FaultKind {
    Status(u16),
    Delay(u64),
    Drop,
}

/// Counters behind the rate limits; `reset` clears them.
#[derive(Default)]
pub struct Limits {
    /// Last SMS or call per phone number.
    pub last_send: HashMap<String, Instant>,
    /// Recent wrong codes per username.
    pub wrong_codes: HashMap<String, VecDeque<Instant>>,
    /// Recent password requests per username.
    pub password: HashMap<String, VecDeque<Instant>>,
    /// Per-minute windows per endpoint family: (window start, requests in it).
    pub buckets: HashMap<&'static str, (Instant, u32)>,
}

// === impl Server ===

impl Server {
    pub fn issuer(&self, base_url: &str) -> String {
        match self {
            Server::Org => base_url.to_string(),
            Server::Custom(id) => format!("{base_url}/oauth2/{id}"),
        }
    }

    /// Returns the `aud` of access tokens: `api://{id}` for a custom server, else the org URL.
    pub fn audience(&self, base_url: &str) -> String {
        match self {
            Server::Org => base_url.to_string(),
            Server::Custom(id) => format!("api://{id}"),
        }
    }

    /// Prefix of the endpoint paths, such as `/oauth2/default/v1`.
    pub fn endpoint_base(&self, base_url: &str) -> String {
        match self {
            Server::Org => format!("{base_url}/oauth2/v1"),
            Server::Custom(id) => format!("{base_url}/oauth2/{id}/v1"),
        }
    }
}

// === impl Shared ===

impl Shared {
    pub fn new(key: SigningKey, base_url: String, config: EmulatorConfig) -> Self {
        let (outbox_tx, _) = broadcast::channel(256);
        Shared {
            key,
            base_url,
            inner: Mutex::new(Inner {
                users: config.users,
                clients: config.clients,
                settings: config.settings,
                mfa: HashMap::new(),
                oob: HashMap::new(),
                access: HashMap::new(),
                id_tokens: HashMap::new(),
                refresh: HashMap::new(),
                outbox: Vec::new(),
                stats: BTreeMap::new(),
                faults: Vec::new(),
                limits: Limits::default(),
                next_grant: 1,
            }),
            outbox_tx,
        }
    }

    /// Locks the state; a poisoned lock is recovered because every update is self-contained.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records an SMS or voice message in the outbox, the broadcast channel and the log.
    pub fn send_code(&self, inner: &mut Inner, phone: &str, channel: Channel, code: &str) {
        let message = OutboxMessage {
            to: phone.to_string(),
            channel: channel.as_str().to_string(),
            code: code.to_string(),
            sent_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        };
        // The code is logged on purpose because the emulator is a test double, as its banner states.
        tracing::info!(to = %mask_phone(phone), channel = channel.as_str(), code, "emulator sent a one-time code");
        inner.outbox.push(message.clone());
        // No receiver is not an error: the outbox endpoint still has the message.
        let _ = self.outbox_tx.send(message);
    }
}

// === impl Inner ===

impl Inner {
    pub fn user(&self, username: &str) -> Option<&UserConfig> {
        self.users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(username))
    }

    pub fn client(&self, client_id: &str) -> Option<&ClientConfig> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    pub fn knows_server(&self, server: &Server) -> bool {
        match server {
            Server::Org => true,
            Server::Custom(id) => self.settings.authorization_servers.iter().any(|s| s == id),
        }
    }

    /// Forgets tokens, transactions, counters and the outbox (not faults or config).
    pub fn reset(&mut self) {
        self.mfa.clear();
        self.oob.clear();
        self.access.clear();
        self.id_tokens.clear();
        self.refresh.clear();
        self.outbox.clear();
        self.stats.clear();
        self.limits = Limits::default();
    }

    /// Revokes every token of one grant (a refresh token and the tokens minted from it).
    pub fn revoke_grant(&mut self, grant_id: u64) {
        for record in self.refresh.values_mut().filter(|r| r.grant_id == grant_id) {
            record.revoked = true;
        }
        for record in self.access.values_mut().filter(|r| r.grant_id == grant_id) {
            record.revoked = true;
        }
        for record in self
            .id_tokens
            .values_mut()
            .filter(|r| r.grant_id == grant_id)
        {
            record.revoked = true;
        }
    }

    /// Drops expired records so long test runs do not grow the maps without bound.
    pub fn purge_expired(&mut self, now: Instant) {
        self.mfa.retain(|_, t| t.expires_at > now);
        self.oob.retain(|_, c| c.expires_at > now);
        self.access.retain(|_, r| r.expires_at > now);
        self.id_tokens.retain(|_, r| r.expires_at > now);
        self.refresh.retain(|_, r| r.expires_at > now);
    }
}

/// Seconds since the Unix epoch.
pub fn now_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Generates a random string of `len` base62 characters.
pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Masks the middle of a phone number for logs: `+15555550100` becomes `+1555*****00`.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..5].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_phone_keeps_prefix_and_last_two() {
        assert_eq!(mask_phone("+15555550100"), "+1555*****00");
        assert_eq!(mask_phone("+1234"), "*****");
    }
}
