//! Users, clients and settings of the emulator, with the built-in demo data and the
//! TOML loaders that report every bad key by name.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};
use toml::Value;

/// Default lifetime of an access token (Okta's example policy: 60 minutes).
pub const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(3600);
/// Lifetime of an ID token (fixed at 60 minutes in Okta).
pub const DEFAULT_ID_TOKEN_TTL: Duration = Duration::from_secs(3600);
/// Default lifetime of a refresh token grant (7 days, the window of Okta's default rule).
pub const DEFAULT_REFRESH_TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default lifetime of an `mfa_token` (not documented by Okta).
pub const DEFAULT_MFA_TOKEN_TTL: Duration = Duration::from_secs(300);
/// Default lifetime of an `oob_code` (300 s in every Okta example).
pub const DEFAULT_OOB_CODE_TTL: Duration = Duration::from_secs(300);
/// Minimum time between two SMS or calls to one phone number.
pub const DEFAULT_SMS_RESEND_INTERVAL: Duration = Duration::from_secs(30);
/// Wrong one-time codes allowed per user within [`DEFAULT_WRONG_CODE_WINDOW`].
pub const DEFAULT_WRONG_CODE_LIMIT: u32 = 5;
/// Window of the wrong-code limit.
pub const DEFAULT_WRONG_CODE_WINDOW: Duration = Duration::from_secs(300);
/// Password grant requests allowed per username per second.
pub const DEFAULT_PASSWORD_REQUESTS_PER_SECOND: u32 = 4;
/// Requests per minute per endpoint family before a generic 429 (Okta's One App plan).
pub const DEFAULT_ORG_RATE_LIMIT_PER_MINUTE: u32 = 1200;
/// Default refresh-token rotation grace period.
pub const DEFAULT_REFRESH_LEEWAY: Duration = Duration::from_secs(30);
/// `max-age` of the JWKS `Cache-Control` header.
pub const DEFAULT_KEYS_MAX_AGE: Duration = Duration::from_secs(86_400);
/// Management API token of the demo.
pub const DEFAULT_API_TOKEN: &str = "portcullis-demo-api-token";

/// The documented mfa-oob grant type.
pub const GRANT_MFA_OOB: &str = "http://auth0.com/oauth/grant-type/mfa-oob";
/// The undocumented mfa-oob spelling, accepted only with the alias switch on.
pub const GRANT_MFA_OOB_URN: &str = "urn:okta:params:oauth:grant-type:mfa-oob";
/// Grant types the apps API accepts in `settings.oauthClient.grant_types`.
pub const KNOWN_GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "client_credentials",
    "implicit",
    "interaction_code",
    "password",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "urn:ietf:params:oauth:grant-type:saml2-bearer",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:openid:params:grant-type:ciba",
    "urn:okta:params:oauth:grant-type:otp",
    "urn:okta:params:oauth:grant-type:oob",
    "http://auth0.com/oauth/grant-type/mfa-otp",
    GRANT_MFA_OOB,
];
/// Scopes every authorization server of the emulator supports.
pub const SUPPORTED_SCOPES: &[&str] = &["openid", "profile", "email", "phone", "offline_access"];

/// Problems found in the users, clients or settings files, one message per bad key.
#[derive(Debug, thiserror::Error)]
#[error("invalid emulator configuration:\n  {}", .problems.join("\n  "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

/// Phone channel a user can be challenged on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Channel {
    Sms,
    Voice,
}

/// Okta user status; only `Active` users can sign in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    LockedOut,
    Suspended,
}

/// Client authentication method at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

/// Refresh-token rotation of a client (`settings.oauthClient.refresh_token.rotation_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotationType {
    Rotate,
    Static,
}

/// One user of the emulated org.
#[derive(Clone)]
pub struct UserConfig {
    /// Okta login, also the `sub` of access tokens.
    pub username: String,
    pub password: String,
    /// Okta user id (`00u…`), the `sub` of ID tokens. Derived from the username when not set.
    pub id: String,
    /// E.164 phone number, or `None` for a user without a phone factor.
    pub phone: Option<String>,
    /// Channels the phone is enrolled for.
    pub channels: Vec<Channel>,
    pub groups: Vec<String>,
    pub given_name: String,
    pub family_name: String,
    pub email: String,
    pub locale: String,
    pub zoneinfo: String,
    pub status: UserStatus,
    /// Whether the sign-on policy requires a phone factor after the password.
    pub mfa_required: bool,
}

/// One OIDC app (client) of the emulated org.
#[derive(Clone)]
pub struct ClientConfig {
    pub client_id: String,
    /// Secret of a confidential client; `None` for a public client.
    pub client_secret: Option<String>,
    /// Accepted authentication methods; the first is reported as `token_endpoint_auth_method`.
    pub auth_methods: Vec<AuthMethod>,
    /// Application id used by the management API (`0oa…`).
    pub app_id: String,
    pub label: String,
    pub grant_types: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub rotation_type: RotationType,
    /// How long a rotated refresh token stays usable (0–60 s).
    pub refresh_leeway: Duration,
}

/// Lifetimes, limits and switches of the emulator.
#[derive(Clone)]
pub struct Settings {
    /// Access token lifetime; default [`DEFAULT_ACCESS_TOKEN_TTL`].
    pub access_token_ttl: Duration,
    /// ID token lifetime; default [`DEFAULT_ID_TOKEN_TTL`].
    pub id_token_ttl: Duration,
    /// Refresh token lifetime; default [`DEFAULT_REFRESH_TOKEN_TTL`].
    pub refresh_token_ttl: Duration,
    /// `mfa_token` lifetime; default [`DEFAULT_MFA_TOKEN_TTL`].
    pub mfa_token_ttl: Duration,
    /// `oob_code` lifetime; default [`DEFAULT_OOB_CODE_TTL`].
    pub oob_code_ttl: Duration,
    /// Accept `urn:okta:params:oauth:grant-type:mfa-oob` as an alias; default off.
    pub accept_urn_mfa_oob: bool,
    /// Minimum time between sends to one phone; default 30 s, zero disables the limit.
    pub sms_resend_interval: Duration,
    /// Wrong codes per user within `wrong_code_window`; default 5, zero disables the limit.
    pub wrong_code_limit: u32,
    /// Default 5 minutes.
    pub wrong_code_window: Duration,
    /// Password requests per username per second; default 4, zero disables the limit.
    pub password_requests_per_second: u32,
    /// Requests per minute per endpoint family; default 1200, zero disables the limit.
    pub org_rate_limit_per_minute: u32,
    /// Management API token (`Authorization: SSWS …`); default [`DEFAULT_API_TOKEN`].
    pub api_token: String,
    /// Custom authorization server ids; default `["default"]`.
    pub authorization_servers: Vec<String>,
    /// `max-age` of the JWKS response; default one day.
    pub keys_max_age: Duration,
}

/// Everything the emulator serves: users, clients and settings.
#[derive(Clone)]
pub struct EmulatorConfig {
    pub users: Vec<UserConfig>,
    pub clients: Vec<ClientConfig>,
    pub settings: Settings,
}

// === impl Channel ===

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Voice => "voice",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "sms" => Some(Channel::Sms),
            "voice" => Some(Channel::Voice),
            _ => None,
        }
    }

    /// Returns the `amr` value Okta reports for this factor (`tel` is a voice call).
    pub fn amr(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Voice => "tel",
        }
    }
}

// === impl AuthMethod ===

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            "none" => Some(AuthMethod::None),
            _ => None,
        }
    }
}

// === impl RotationType ===

impl RotationType {
    pub fn as_str(self) -> &'static str {
        match self {
            RotationType::Rotate => "ROTATE",
            RotationType::Static => "STATIC",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "ROTATE" => Some(RotationType::Rotate),
            "STATIC" => Some(RotationType::Static),
            _ => None,
        }
    }
}

// === impl UserConfig ===

impl UserConfig {
    /// Builds an active user who needs MFA, with a derived id and no phone.
    pub fn new(username: &str, password: &str) -> Self {
        let local = username.split('@').next().unwrap_or(username);
        let mut given_name: String = local.to_string();
        if let Some(first) = given_name.get(..1) {
            given_name = format!("{}{}", first.to_uppercase(), &given_name[1..]);
        }
        UserConfig {
            username: username.to_string(),
            password: password.to_string(),
            id: derive_id("00u", username),
            phone: None,
            channels: Vec::new(),
            groups: Vec::new(),
            given_name,
            family_name: "Example".to_string(),
            email: username.to_string(),
            locale: "en-US".to_string(),
            zoneinfo: "America/Los_Angeles".to_string(),
            status: UserStatus::Active,
            mfa_required: true,
        }
    }

    pub fn phone(mut self, phone: &str, channels: &[Channel]) -> Self {
        self.phone = Some(phone.to_string());
        self.channels = channels.to_vec();
        self
    }

    pub fn groups(mut self, groups: &[&str]) -> Self {
        self.groups = groups.iter().map(|g| g.to_string()).collect();
        self
    }

    pub fn status(mut self, status: UserStatus) -> Self {
        self.status = status;
        self
    }

    pub fn mfa_required(mut self, required: bool) -> Self {
        self.mfa_required = required;
        self
    }

    /// Returns the OIDC `name` claim.
    pub fn name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}

// === impl ClientConfig ===

impl ClientConfig {
    /// Builds a confidential `client_secret_basic` client with the demo grants.
    pub fn confidential(client_id: &str, secret: &str) -> Self {
        ClientConfig {
            client_id: client_id.to_string(),
            client_secret: Some(secret.to_string()),
            auth_methods: vec![AuthMethod::ClientSecretBasic],
            app_id: derive_id("0oa", client_id),
            label: client_id.to_string(),
            grant_types: vec![
                "password".to_string(),
                GRANT_MFA_OOB.to_string(),
                "refresh_token".to_string(),
            ],
            post_logout_redirect_uris: Vec::new(),
            rotation_type: RotationType::Rotate,
            refresh_leeway: DEFAULT_REFRESH_LEEWAY,
        }
    }

    /// Builds a public (`none`) client with the demo grants.
    pub fn public(client_id: &str) -> Self {
        ClientConfig {
            client_secret: None,
            auth_methods: vec![AuthMethod::None],
            ..ClientConfig::confidential(client_id, "")
        }
    }

    pub fn has_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    /// Returns whether either spelling of the mfa-oob grant is enabled on this client.
    pub fn has_mfa_oob(&self) -> bool {
        self.has_grant(GRANT_MFA_OOB) || self.has_grant(GRANT_MFA_OOB_URN)
    }
}

// === impl Settings ===

impl Default for Settings {
    fn default() -> Self {
        Settings {
            access_token_ttl: DEFAULT_ACCESS_TOKEN_TTL,
            id_token_ttl: DEFAULT_ID_TOKEN_TTL,
            refresh_token_ttl: DEFAULT_REFRESH_TOKEN_TTL,
            mfa_token_ttl: DEFAULT_MFA_TOKEN_TTL,
            oob_code_ttl: DEFAULT_OOB_CODE_TTL,
            accept_urn_mfa_oob: false,
            sms_resend_interval: DEFAULT_SMS_RESEND_INTERVAL,
            wrong_code_limit: DEFAULT_WRONG_CODE_LIMIT,
            wrong_code_window: DEFAULT_WRONG_CODE_WINDOW,
            password_requests_per_second: DEFAULT_PASSWORD_REQUESTS_PER_SECOND,
            org_rate_limit_per_minute: DEFAULT_ORG_RATE_LIMIT_PER_MINUTE,
            api_token: DEFAULT_API_TOKEN.to_string(),
            authorization_servers: vec!["default".to_string()],
            keys_max_age: DEFAULT_KEYS_MAX_AGE,
        }
    }
}

// === impl EmulatorConfig ===

impl EmulatorConfig {
    /// Builds the built-in demo users and clients with default settings.
    pub fn demo() -> Self {
        EmulatorConfig {
            users: demo_users(),
            clients: demo_clients(),
            settings: Settings::default(),
        }
    }

    /// Loads the users, clients and settings files; a missing path keeps the demo data.
    pub fn from_files(
        users: Option<&Path>,
        clients: Option<&Path>,
        settings: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let mut config = EmulatorConfig::demo();
        let mut problems = Vec::new();
        if let Some(path) = users {
            if let Some(table) = read_toml(path, &mut problems) {
                config.users = parse_users(&table, &display(path), &mut problems);
            }
        }
        if let Some(path) = clients {
            if let Some(table) = read_toml(path, &mut problems) {
                config.clients = parse_clients(&table, &display(path), &mut problems);
            }
        }
        if let Some(path) = settings {
            if let Some(table) = read_toml(path, &mut problems) {
                parse_settings(&table, &display(path), &mut config.settings, &mut problems);
            }
        }
        check_unique(&config, &mut problems);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError { problems })
        }
    }

    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.settings.access_token_ttl = ttl;
        self
    }

    pub fn id_token_ttl(mut self, ttl: Duration) -> Self {
        self.settings.id_token_ttl = ttl;
        self
    }

    pub fn refresh_token_ttl(mut self, ttl: Duration) -> Self {
        self.settings.refresh_token_ttl = ttl;
        self
    }

    pub fn mfa_token_ttl(mut self, ttl: Duration) -> Self {
        self.settings.mfa_token_ttl = ttl;
        self
    }

    pub fn oob_code_ttl(mut self, ttl: Duration) -> Self {
        self.settings.oob_code_ttl = ttl;
        self
    }

    pub fn accept_urn_mfa_oob(mut self, accept: bool) -> Self {
        self.settings.accept_urn_mfa_oob = accept;
        self
    }

    /// Sets the minimum time between sends to one phone; `Duration::ZERO` disables it.
    pub fn sms_resend_interval(mut self, interval: Duration) -> Self {
        self.settings.sms_resend_interval = interval;
        self
    }

    /// Sets the wrong-code limit per user and its window; a zero limit disables it.
    pub fn wrong_code_limit(mut self, limit: u32, window: Duration) -> Self {
        self.settings.wrong_code_limit = limit;
        self.settings.wrong_code_window = window;
        self
    }

    /// Sets the password requests allowed per username per second; zero disables it.
    pub fn password_requests_per_second(mut self, limit: u32) -> Self {
        self.settings.password_requests_per_second = limit;
        self
    }

    /// Sets the requests per minute per endpoint family; zero disables it.
    pub fn org_rate_limit_per_minute(mut self, limit: u32) -> Self {
        self.settings.org_rate_limit_per_minute = limit;
        self
    }

    pub fn api_token(mut self, token: &str) -> Self {
        self.settings.api_token = token.to_string();
        self
    }

    /// Adds a user, replacing one with the same username.
    pub fn user(mut self, user: UserConfig) -> Self {
        self.users.retain(|u| u.username != user.username);
        self.users.push(user);
        self
    }

    /// Adds a client, replacing one with the same client id.
    pub fn client(mut self, client: ClientConfig) -> Self {
        self.clients.retain(|c| c.client_id != client.client_id);
        self.clients.push(client);
        self
    }

    /// Changes the stored client with this id in place; unknown ids are ignored.
    pub fn edit_client(mut self, client_id: &str, edit: impl FnOnce(&mut ClientConfig)) -> Self {
        if let Some(client) = self.clients.iter_mut().find(|c| c.client_id == client_id) {
            edit(client);
        }
        self
    }
}

/// Builds a stable Okta-style id: `prefix` followed by 17 base62 characters.
pub fn derive_id(prefix: &str, seed: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let digest = Sha256::digest(seed.as_bytes());
    let tail: String = digest
        .iter()
        .take(17)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("{prefix}{tail}")
}

fn demo_users() -> Vec<UserConfig> {
    let mut alice = UserConfig::new("alice@example.com", "Correct-Horse-42")
        .phone("+15555550100", &[Channel::Sms, Channel::Voice])
        .groups(&["engineering", "admins"]);
    alice.family_name = "Anderson".to_string();
    let mut bob = UserConfig::new("bob@example.com", "Battery-Staple-7")
        .phone("+15555550101", &[Channel::Sms])
        .groups(&["engineering"]);
    bob.family_name = "Brown".to_string();
    let mut carol = UserConfig::new("carol@example.com", "Locked-Out-1")
        .phone("+15555550102", &[Channel::Sms, Channel::Voice])
        .status(UserStatus::LockedOut);
    carol.family_name = "Clark".to_string();
    let mut dave = UserConfig::new("dave@example.com", "No-Mfa-Needed-3").mfa_required(false);
    dave.family_name = "Davis".to_string();
    vec![alice, bob, carol, dave]
}

fn demo_clients() -> Vec<ClientConfig> {
    let mut demo = ClientConfig::confidential("portcullis-demo", "portcullis-demo-secret");
    // Deliberately lenient: Okta accepts only the configured method, but the demo client
    // takes both secret methods so any gateway configuration works against it.
    demo.auth_methods = vec![AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost];
    demo.app_id = "0oaportcullisdemo".to_string();
    demo.label = "portcullis demo".to_string();
    demo.post_logout_redirect_uris =
        vec!["http://127.0.0.1:4180/.portcullis/signed_out".to_string()];

    let mut public = ClientConfig::public("portcullis-public");
    public.app_id = "0oaportcullispublic".to_string();
    public.label = "portcullis public".to_string();
    vec![demo, public]
}

// === file loading ===

fn display(path: &Path) -> String {
    path.display().to_string()
}

fn read_toml(path: &Path, problems: &mut Vec<String>) -> Option<toml::Table> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            problems.push(format!("{}: cannot read file: {err}", display(path)));
            return None;
        }
    };
    match text.parse::<toml::Table>() {
        Ok(table) => Some(table),
        Err(err) => {
            problems.push(format!("{}: invalid TOML: {err}", display(path)));
            None
        }
    }
}

/// Reads typed values out of one TOML table and records a problem per bad key.
struct TableReader<'a> {
    table: &'a toml::Table,
    prefix: String,
    problems: &'a mut Vec<String>,
    seen: BTreeSet<&'static str>,
}

impl<'a> TableReader<'a> {
    fn new(table: &'a toml::Table, prefix: String, problems: &'a mut Vec<String>) -> Self {
        TableReader {
            table,
            prefix,
            problems,
            seen: BTreeSet::new(),
        }
    }

    fn bad(&mut self, key: &str, problem: &str) {
        self.problems
            .push(format!("{}.{key}: {problem}", self.prefix));
    }

    fn value(&mut self, key: &'static str) -> Option<&'a Value> {
        self.seen.insert(key);
        self.table.get(key)
    }

    fn string(&mut self, key: &'static str) -> Option<String> {
        match self.value(key)? {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.bad(key, "expected a string");
                None
            }
        }
    }

    fn required_string(&mut self, key: &'static str) -> Option<String> {
        if self.table.get(key).is_none() {
            self.seen.insert(key);
            self.bad(key, "missing required key");
            return None;
        }
        self.string(key)
    }

    fn boolean(&mut self, key: &'static str) -> Option<bool> {
        match self.value(key)? {
            Value::Boolean(b) => Some(*b),
            _ => {
                self.bad(key, "expected true or false");
                None
            }
        }
    }

    fn integer(&mut self, key: &'static str) -> Option<u32> {
        match self.value(key)? {
            Value::Integer(i) if (0..=i64::from(u32::MAX)).contains(i) => Some(*i as u32),
            _ => {
                self.bad(key, "expected a non-negative integer");
                None
            }
        }
    }

    fn duration(&mut self, key: &'static str) -> Option<Duration> {
        match self.value(key)? {
            Value::String(s) => match humantime::parse_duration(s) {
                Ok(d) => Some(d),
                Err(err) => {
                    self.bad(
                        key,
                        &format!("invalid duration {s:?} ({err}); write e.g. \"30s\""),
                    );
                    None
                }
            },
            Value::Integer(i) if *i >= 0 => Some(Duration::from_secs(*i as u64)),
            _ => {
                self.bad(key, "expected a duration such as \"30s\" or whole seconds");
                None
            }
        }
    }

    fn strings(&mut self, key: &'static str) -> Option<Vec<String>> {
        match self.value(key)? {
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        _ => {
                            self.bad(key, "expected an array of strings");
                            return None;
                        }
                    }
                }
                Some(out)
            }
            _ => {
                self.bad(key, "expected an array of strings");
                None
            }
        }
    }

    /// Reports every key of the table that no reader call asked for.
    fn finish(self) {
        for key in self.table.keys() {
            if !self.seen.contains(key.as_str()) {
                self.problems
                    .push(format!("{}.{key}: unknown key", self.prefix));
            }
        }
    }
}

fn array_of_tables<'a>(
    table: &'a toml::Table,
    key: &str,
    file: &str,
    problems: &mut Vec<String>,
) -> Vec<&'a toml::Table> {
    for other in table.keys() {
        if other != key {
            problems.push(format!("{file}: {other}: unknown key (expected [[{key}]])"));
        }
    }
    match table.get(key) {
        None => {
            problems.push(format!(
                "{file}: {key}: missing; add at least one [[{key}]] table"
            ));
            Vec::new()
        }
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Table(t) => out.push(t),
                    _ => problems.push(format!("{file}: {key}[{i}]: expected a table")),
                }
            }
            out
        }
        Some(_) => {
            problems.push(format!(
                "{file}: {key}: expected an array of tables ([[{key}]])"
            ));
            Vec::new()
        }
    }
}

fn is_e164(phone: &str) -> bool {
    let digits = phone.strip_prefix('+').unwrap_or("");
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

fn parse_users(table: &toml::Table, file: &str, problems: &mut Vec<String>) -> Vec<UserConfig> {
    let mut users = Vec::new();
    for (i, entry) in array_of_tables(table, "users", file, problems)
        .into_iter()
        .enumerate()
    {
        let mut r = TableReader::new(entry, format!("{file}: users[{i}]"), problems);
        let username = r.required_string("username");
        let password = r.required_string("password");
        let (Some(username), Some(password)) = (username, password) else {
            r.finish();
            continue;
        };
        let mut user = UserConfig::new(&username, &password);
        if let Some(id) = r.string("id") {
            user.id = id;
        }
        if let Some(phone) = r.string("phone") {
            if is_e164(&phone) {
                user.phone = Some(phone);
            } else {
                r.bad(
                    "phone",
                    &format!(
                        "invalid phone number {phone:?}; write E.164 such as \"+15555550100\""
                    ),
                );
            }
        }
        if let Some(channels) = r.strings("channels") {
            for channel in channels {
                match Channel::parse(&channel) {
                    Some(c) if !user.channels.contains(&c) => user.channels.push(c),
                    Some(_) => {}
                    None => r.bad(
                        "channels",
                        &format!("unknown channel {channel:?}; use \"sms\" or \"voice\""),
                    ),
                }
            }
        } else if user.phone.is_some() {
            user.channels = vec![Channel::Sms, Channel::Voice];
        }
        if user.phone.is_none() && !user.channels.is_empty() {
            r.bad("channels", "channels need a phone number");
        }
        if let Some(groups) = r.strings("groups") {
            user.groups = groups;
        }
        if let Some(v) = r.string("given_name") {
            user.given_name = v;
        }
        if let Some(v) = r.string("family_name") {
            user.family_name = v;
        }
        if let Some(v) = r.string("email") {
            user.email = v;
        }
        if let Some(v) = r.string("locale") {
            user.locale = v;
        }
        if let Some(v) = r.string("zoneinfo") {
            user.zoneinfo = v;
        }
        if let Some(status) = r.string("status") {
            match status.as_str() {
                "active" => user.status = UserStatus::Active,
                "locked_out" => user.status = UserStatus::LockedOut,
                "suspended" => user.status = UserStatus::Suspended,
                other => r.bad(
                    "status",
                    &format!("unknown status {other:?}; use active, locked_out or suspended"),
                ),
            }
        }
        if let Some(required) = r.boolean("mfa_required") {
            user.mfa_required = required;
        }
        r.finish();
        users.push(user);
    }
    users
}

fn parse_clients(table: &toml::Table, file: &str, problems: &mut Vec<String>) -> Vec<ClientConfig> {
    let mut clients = Vec::new();
    for (i, entry) in array_of_tables(table, "clients", file, problems)
        .into_iter()
        .enumerate()
    {
        let mut r = TableReader::new(entry, format!("{file}: clients[{i}]"), problems);
        let Some(client_id) = r.required_string("client_id") else {
            r.finish();
            continue;
        };
        let secret = r.string("client_secret");
        let mut client = match &secret {
            Some(secret) => ClientConfig::confidential(&client_id, secret),
            None => ClientConfig::public(&client_id),
        };
        if let Some(methods) = r.strings("auth_methods") {
            let mut parsed = Vec::new();
            for method in methods {
                match AuthMethod::parse(&method) {
                    Some(m) => parsed.push(m),
                    None => r.bad("auth_methods", &format!("unknown method {method:?}; use client_secret_basic, client_secret_post or none")),
                }
            }
            if parsed.is_empty() {
                r.bad("auth_methods", "list at least one method");
            } else {
                client.auth_methods = parsed;
            }
        }
        let needs_secret = client.auth_methods.iter().any(|m| *m != AuthMethod::None);
        if needs_secret && secret.is_none() {
            r.bad(
                "client_secret",
                "missing; client_secret_basic and client_secret_post need a secret",
            );
        }
        if !needs_secret && secret.is_some() {
            r.bad(
                "client_secret",
                "a public client (auth_methods = [\"none\"]) has no secret",
            );
        }
        if let Some(app_id) = r.string("app_id") {
            client.app_id = app_id;
        }
        if let Some(label) = r.string("label") {
            client.label = label;
        }
        if let Some(grants) = r.strings("grant_types") {
            for grant in &grants {
                if !KNOWN_GRANT_TYPES.contains(&grant.as_str()) && grant != GRANT_MFA_OOB_URN {
                    r.bad("grant_types", &format!("unknown grant type {grant:?}"));
                }
            }
            client.grant_types = grants;
        }
        if let Some(uris) = r.strings("post_logout_redirect_uris") {
            client.post_logout_redirect_uris = uris;
        }
        if let Some(rotation) = r.string("refresh_rotation") {
            match RotationType::parse(&rotation) {
                Some(t) => client.rotation_type = t,
                None => r.bad(
                    "refresh_rotation",
                    &format!("unknown rotation {rotation:?}; use ROTATE or STATIC"),
                ),
            }
        }
        if let Some(leeway) = r.duration("refresh_leeway") {
            if leeway > Duration::from_secs(60) {
                r.bad("refresh_leeway", "must be between 0 and 60 seconds");
            } else {
                client.refresh_leeway = leeway;
            }
        }
        r.finish();
        clients.push(client);
    }
    clients
}

fn parse_settings(
    table: &toml::Table,
    file: &str,
    settings: &mut Settings,
    problems: &mut Vec<String>,
) {
    let mut r = TableReader::new(table, file.to_string(), problems);
    let durations: [(&'static str, &mut Duration); 8] = [
        ("access_token_ttl", &mut settings.access_token_ttl),
        ("id_token_ttl", &mut settings.id_token_ttl),
        ("refresh_token_ttl", &mut settings.refresh_token_ttl),
        ("mfa_token_ttl", &mut settings.mfa_token_ttl),
        ("oob_code_ttl", &mut settings.oob_code_ttl),
        ("sms_resend_interval", &mut settings.sms_resend_interval),
        ("wrong_code_window", &mut settings.wrong_code_window),
        ("keys_max_age", &mut settings.keys_max_age),
    ];
    for (key, slot) in durations {
        if let Some(d) = r.duration(key) {
            *slot = d;
        }
    }
    if let Some(v) = r.boolean("accept_urn_mfa_oob") {
        settings.accept_urn_mfa_oob = v;
    }
    if let Some(v) = r.integer("wrong_code_limit") {
        settings.wrong_code_limit = v;
    }
    if let Some(v) = r.integer("password_requests_per_second") {
        settings.password_requests_per_second = v;
    }
    if let Some(v) = r.integer("org_rate_limit_per_minute") {
        settings.org_rate_limit_per_minute = v;
    }
    if let Some(v) = r.string("api_token") {
        if v.is_empty() {
            r.bad("api_token", "must not be empty");
        } else {
            settings.api_token = v;
        }
    }
    if let Some(v) = r.strings("authorization_servers") {
        if v.is_empty() || v.iter().any(|id| id.is_empty() || id.contains('/')) {
            r.bad("authorization_servers", "list one or more ids without '/'");
        } else {
            settings.authorization_servers = v;
        }
    }
    for (key, ttl) in [
        ("access_token_ttl", settings.access_token_ttl),
        ("id_token_ttl", settings.id_token_ttl),
        ("mfa_token_ttl", settings.mfa_token_ttl),
        ("oob_code_ttl", settings.oob_code_ttl),
    ] {
        if ttl < Duration::from_secs(1) {
            r.bad(key, "must be at least 1s");
        }
    }
    r.finish();
}

fn check_unique(config: &EmulatorConfig, problems: &mut Vec<String>) {
    let mut names = BTreeSet::new();
    for user in &config.users {
        if !names.insert(user.username.to_lowercase()) {
            problems.push(format!("users: duplicate username {:?}", user.username));
        }
    }
    let mut ids = BTreeSet::new();
    let mut apps = BTreeSet::new();
    for client in &config.clients {
        if !ids.insert(client.client_id.clone()) {
            problems.push(format!(
                "clients: duplicate client_id {:?}",
                client.client_id
            ));
        }
        if !apps.insert(client.app_id.clone()) {
            problems.push(format!("clients: duplicate app_id {:?}", client.app_id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), text).expect("write temp file");
        file
    }

    #[test]
    fn users_file_reports_each_bad_key() {
        let file = write(
            r#"
[[users]]
username = "x@example.com"
password = "pw"
phone = "555"
status = "gone"
colour = "blue"
"#,
        );
        let err = EmulatorConfig::from_files(Some(file.path()), None, None)
            .err()
            .expect("invalid file must fail");
        let text = err.to_string();
        assert!(text.contains("users[0].phone"), "{text}");
        assert!(text.contains("users[0].status"), "{text}");
        assert!(text.contains("users[0].colour: unknown key"), "{text}");
    }

    #[test]
    fn settings_file_sets_values() {
        let file = write("accept_urn_mfa_oob = true\naccess_token_ttl = \"2s\"\n");
        let config = EmulatorConfig::from_files(None, None, Some(file.path())).expect("valid");
        assert!(config.settings.accept_urn_mfa_oob);
        assert_eq!(config.settings.access_token_ttl, Duration::from_secs(2));
    }

    #[test]
    fn demo_ids_are_stable() {
        assert_eq!(derive_id("00u", "a"), derive_id("00u", "a"));
        assert_eq!(derive_id("00u", "a").len(), 20);
    }
}
