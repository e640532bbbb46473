//! Reading the configuration: the TOML file, then `PORTCULLIS_<SECTION>_<KEY>` overrides,
//! then the client secret, then validation. Every problem is collected with the name of
//! the key it concerns, so one run reports them all.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use super::{
    AuthConfig, Config, HeadersConfig, LogConfig, LoginConfig, OktaConfig, ServerConfig,
    SessionConfig, UpstreamConfig,
};
use crate::secret::Secret;

/// Prefix of the environment variables that override single keys.
pub const ENV_PREFIX: &str = "PORTCULLIS_";

/// The environment variable naming the configuration file.
pub const ENV_CONFIG_FILE: &str = "PORTCULLIS_CONFIG";

/// Variables with the prefix that are not key overrides.
const ENV_NOT_KEYS: &[&str] = &[ENV_CONFIG_FILE, "PORTCULLIS_EMULATOR_API_TOKEN"];

/// Sections of the file, in the order they are documented.
pub const SECTIONS: &[&str] = &[
    "server", "okta", "auth", "session", "login", "upstream", "headers", "log",
];

/// A configuration that passed validation, with its client secret resolved.
#[derive(Debug)]
pub struct LoadedConfig {
    pub config: Config,
    /// The client secret from `PORTCULLIS_OKTA_CLIENT_SECRET`, `okta.client_secret` or
    /// `okta.client_secret_file`; `None` for the `none` auth method.
    pub client_secret: Option<Secret<String>>,
}

/// Every problem found in a configuration, each naming its key.
#[derive(Debug)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        let noun = if count == 1 { "problem" } else { "problems" };
        write!(f, "invalid configuration ({count} {noun}):")?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

// === impl Config ===

impl Config {
    /// Loads `path` (if any) with overrides from the process environment, resolves the
    /// client secret and validates the result.
    pub fn load(path: Option<&Path>) -> Result<LoadedConfig, ConfigError> {
        let text = match path {
            None => None,
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => Some(text),
                Err(error) => {
                    return Err(ConfigError {
                        problems: vec![format!(
                            "failed to read the configuration file {}: {error}",
                            path.display()
                        )],
                    })
                }
            },
        };
        let source = path.map(Path::to_path_buf);
        Self::load_from(text.as_deref(), source.as_deref(), std::env::vars())
    }

    /// Loads a configuration from TOML text and an explicit environment. `source` is the
    /// file the text came from, used in messages and to resolve a relative
    /// `client_secret_file`.
    pub fn load_from(
        text: Option<&str>,
        source: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<LoadedConfig, ConfigError> {
        let mut problems = Vec::new();

        // Parse the file into a table of sections.
        let mut root = match text {
            None => Table::new(),
            Some(text) => match text.parse::<Table>() {
                Ok(table) => table,
                Err(error) => {
                    let name = source.map_or("configuration".into(), |p| p.display().to_string());
                    return Err(ConfigError {
                        problems: vec![format!("{name} is not valid TOML: {}", error.message())],
                    });
                }
            },
        };
        let mut sections: BTreeMap<&'static str, Table> = BTreeMap::new();
        for (name, value) in std::mem::take(&mut root) {
            match SECTIONS.iter().find(|s| **s == name) {
                None => problems.push(format!(
                    "{name}: unknown section; expected one of {}",
                    SECTIONS.join(", ")
                )),
                Some(section) => match value {
                    Value::Table(table) => {
                        sections.insert(section, table);
                    }
                    _ => problems.push(format!("{name}: must be a table ([{name}])")),
                },
            }
        }

        // Apply the environment, one key each; a value is typed by what the key accepts.
        let mut secret_from_env = false;
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(name, _)| name.starts_with(ENV_PREFIX))
            .collect();
        env.sort();
        for (name, raw) in env {
            if ENV_NOT_KEYS.contains(&name.as_str()) {
                continue;
            }
            let rest = name[ENV_PREFIX.len()..].to_ascii_lowercase();
            let Some((section, key)) = SECTIONS
                .iter()
                .find_map(|s| Some((*s, rest.strip_prefix(s)?.strip_prefix('_')?)))
            else {
                problems.push(format!(
                    "{name}: no configuration key matches this variable; expected \
                     {ENV_PREFIX}<SECTION>_<KEY> with a section among {}",
                    SECTIONS.join(", ")
                ));
                continue;
            };
            match typed_env_value(section, key, &raw) {
                Ok(value) => {
                    if section == "okta" && key == "client_secret" {
                        secret_from_env = true;
                    }
                    sections
                        .entry(section)
                        .or_default()
                        .insert(key.to_string(), value);
                }
                Err(reason) => problems.push(format!("{name} ({section}.{key}): {reason}")),
            }
        }

        // Check each key alone, so that one bad key does not hide the others. Bad keys
        // are dropped so that the remaining ones are still validated below.
        let mut bad_keys = Vec::new();
        for (section, table) in sections.iter_mut() {
            table.retain(|key, value| match check_key(section, key, value) {
                Ok(()) => true,
                Err(reason) => {
                    problems.push(format!("{section}.{key}: {reason}"));
                    bad_keys.push(format!("{section}.{key}:"));
                    false
                }
            });
        }

        let root: Table = sections
            .into_iter()
            .map(|(name, table)| (name.to_string(), Value::Table(table)))
            .collect();
        let config: Config = match Value::Table(root).try_into() {
            Ok(config) => config,
            Err(error) => {
                return Err(ConfigError {
                    problems: vec![format!("invalid configuration: {}", error.message())],
                })
            }
        };

        let client_secret = resolve_client_secret(&config, source, secret_from_env, &mut problems);
        // A key already reported as malformed is not reported again as missing.
        problems.extend(
            config
                .validate(client_secret.is_some())
                .into_iter()
                .filter(|problem| !bad_keys.iter().any(|key| problem.starts_with(key))),
        );
        if problems.is_empty() {
            Ok(LoadedConfig {
                config,
                client_secret,
            })
        } else {
            Err(ConfigError { problems })
        }
    }
}

/// Deserializes the section `section` from a table holding only `key`, which checks the
/// key's name and type with the section's own rules and defaults for the rest.
fn check_key(section: &str, key: &str, value: &Value) -> Result<(), String> {
    let mut table = Table::new();
    table.insert(key.to_string(), value.clone());
    let value = Value::Table(table);
    let result = match section {
        "server" => try_section::<ServerConfig>(value),
        "okta" => try_section::<OktaConfig>(value),
        "auth" => try_section::<AuthConfig>(value),
        "session" => try_section::<SessionConfig>(value),
        "login" => try_section::<LoginConfig>(value),
        "upstream" => try_section::<UpstreamConfig>(value),
        "headers" => try_section::<HeadersConfig>(value),
        "log" => try_section::<LogConfig>(value),
        _ => Err(format!("unknown section {section}")),
    };
    // A wrongly typed secret would show its value in serde's message.
    if result.is_err() && key.contains("secret") && !key.ends_with("_file") {
        return Err("must be a string".to_string());
    }
    result
}

fn try_section<T: DeserializeOwned>(value: Value) -> Result<(), String> {
    value
        .try_into::<T>()
        .map(drop)
        .map_err(|error| error.message().trim().to_string())
}

/// Turns an environment value into the TOML value its key accepts: a string, then a
/// TOML literal (number, boolean, array), then a list split on commas or whitespace.
fn typed_env_value(section: &str, key: &str, raw: &str) -> Result<Value, String> {
    let as_string = Value::String(raw.to_string());
    let first_error = match check_key(section, key, &as_string) {
        Ok(()) => return Ok(as_string),
        Err(reason) => reason,
    };
    if let Ok(table) = format!("value = {raw}").parse::<Table>() {
        if let Some(literal) = table.get("value") {
            if check_key(section, key, literal).is_ok() {
                return Ok(literal.clone());
            }
        }
    }
    let list = Value::Array(
        raw.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|item| !item.is_empty())
            .map(|item| Value::String(item.to_string()))
            .collect(),
    );
    match check_key(section, key, &list) {
        Ok(()) => Ok(list),
        // For a list key, the string's "expected a sequence" error hides the invalid
        // item, which the list's own error names.
        Err(list_error) if first_error.contains("expected a sequence") => Err(list_error),
        Err(_) => Err(first_error),
    }
}

/// Picks the client secret: the environment beats the file's `client_secret`, which may
/// not be combined with `client_secret_file`.
fn resolve_client_secret(
    config: &Config,
    source: Option<&Path>,
    secret_from_env: bool,
    problems: &mut Vec<String>,
) -> Option<Secret<String>> {
    let okta = &config.okta;
    if let Some(secret) = &okta.client_secret {
        if okta.client_secret_file.is_some() && !secret_from_env {
            problems.push(
                "okta.client_secret_file: set either okta.client_secret or \
                 okta.client_secret_file, not both"
                    .to_string(),
            );
            return None;
        }
        if secret.is_empty() {
            problems.push("okta.client_secret: must not be empty".to_string());
            return None;
        }
        return Some(secret.clone());
    }
    let path = okta.client_secret_file.as_ref()?;
    let path = resolve_relative(path, source);
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().is_empty() => {
            problems.push(format!(
                "okta.client_secret_file: {} is empty",
                path.display()
            ));
            None
        }
        Ok(text) => Some(Secret::new(text.trim().to_string())),
        Err(error) => {
            problems.push(format!(
                "okta.client_secret_file: failed to read {}: {error}",
                path.display()
            ));
            None
        }
    }
}

/// Resolves a path relative to the directory of the configuration file.
fn resolve_relative(path: &Path, source: Option<&Path>) -> PathBuf {
    match source.and_then(Path::parent) {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    }
}
