use std::io::Write;

use super::*;

const MINIMAL: &str = r#"
[okta]
issuer = "https://example.okta.com/oauth2/default"
client_id = "0oaexample"

[upstream]
url = "http://127.0.0.1:8080"
"#;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load(text: &str, pairs: &[(&str, &str)]) -> Result<LoadedConfig, ConfigError> {
    Config::load_from(Some(text), None, env(pairs))
}

/// Asserts that loading fails and that one problem names `key`.
fn assert_problem(result: Result<LoadedConfig, ConfigError>, key: &str) -> Vec<String> {
    let problems = match result {
        Ok(_) => panic!("expected a problem naming {key}, the configuration loaded"),
        Err(error) => error.problems,
    };
    assert!(
        problems.iter().any(|p| p.contains(key)),
        "no problem names {key}: {problems:#?}"
    );
    problems
}

#[test]
fn minimal_config_with_env_secret_loads() {
    let loaded = load(MINIMAL, &[("PORTCULLIS_OKTA_CLIENT_SECRET", "s3cret")]).unwrap();
    assert_eq!(loaded.client_secret.unwrap().expose(), "s3cret");
    assert_eq!(loaded.config.server.prefix, "/.portcullis");
    assert_eq!(loaded.config.session.cookie_name, "__Host-portcullis");
    assert!(loaded.config.cookie_secure());
}

#[test]
fn env_overrides_single_keys_with_their_types() {
    let loaded = load(
        MINIMAL,
        &[
            ("PORTCULLIS_OKTA_CLIENT_SECRET", "s3cret"),
            ("PORTCULLIS_UPSTREAM_URL", "http://10.0.0.7:9000"),
            ("PORTCULLIS_SERVER_LISTEN", "127.0.0.1:5000"),
            ("PORTCULLIS_SERVER_MAX_BODY_BYTES", "1024"),
            ("PORTCULLIS_AUTH_REQUIRE_MFA", "false"),
            ("PORTCULLIS_SESSION_IDLE_TIMEOUT", "15m"),
            ("PORTCULLIS_OKTA_SCOPES", "openid profile"),
            (
                "PORTCULLIS_SERVER_TRUSTED_PROXIES",
                "10.0.0.0/8,192.168.0.0/16",
            ),
            ("PORTCULLIS_CONFIG", "/ignored/here.toml"),
        ],
    )
    .unwrap();
    let config = loaded.config;
    assert_eq!(config.upstream.url, "http://10.0.0.7:9000");
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:5000");
    assert_eq!(config.server.max_body_bytes, 1024);
    assert!(!config.auth.require_mfa);
    assert_eq!(config.session.idle_timeout, Duration::from_secs(900));
    assert_eq!(config.okta.scopes, ["openid", "profile"]);
    assert_eq!(config.server.trusted_proxies.len(), 2);
}

#[test]
fn env_beats_file_value() {
    let text = format!("{MINIMAL}\n[server]\nlisten = \"127.0.0.1:1\"\n");
    let loaded = load(
        &text,
        &[
            ("PORTCULLIS_OKTA_CLIENT_SECRET", "s3cret"),
            ("PORTCULLIS_SERVER_LISTEN", "127.0.0.1:2"),
        ],
    )
    .unwrap();
    assert_eq!(loaded.config.server.listen.port(), 2);
}

#[test]
fn secret_file_is_read_and_trimmed() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "from-a-file").unwrap();
    let line = format!(
        "client_secret_file = {:?}",
        file.path().display().to_string()
    );
    let text = MINIMAL.replace(
        "client_id = \"0oaexample\"",
        &format!("client_id = \"0oaexample\"\n{line}"),
    );
    let loaded = load(&text, &[]).unwrap();
    assert_eq!(loaded.client_secret.unwrap().expose(), "from-a-file");
}

#[test]
fn env_secret_beats_secret_file() {
    let text = MINIMAL.replace(
        "client_id = \"0oaexample\"",
        "client_id = \"0oaexample\"\nclient_secret_file = \"/nonexistent/x\"",
    );
    let loaded = load(&text, &[("PORTCULLIS_OKTA_CLIENT_SECRET", "env")]).unwrap();
    assert_eq!(loaded.client_secret.unwrap().expose(), "env");
}

#[test]
fn secret_file_missing_is_named() {
    let text = MINIMAL.replace(
        "client_id = \"0oaexample\"",
        "client_id = \"0oaexample\"\nclient_secret_file = \"/nonexistent/portcullis-secret\"",
    );
    assert_problem(load(&text, &[]), "okta.client_secret_file");
}

#[test]
fn secret_in_both_places_is_rejected() {
    let text = MINIMAL.replace(
        "client_id = \"0oaexample\"",
        "client_id = \"0oaexample\"\nclient_secret = \"a\"\nclient_secret_file = \"/tmp/x\"",
    );
    assert_problem(load(&text, &[]), "okta.client_secret_file");
}

#[test]
fn missing_secret_is_named_for_confidential_methods() {
    assert_problem(load(MINIMAL, &[]), "okta.client_secret");
    let public = MINIMAL.replace(
        "client_id = \"0oaexample\"",
        "client_id = \"0oaexample\"\nauth_method = \"none\"",
    );
    assert!(load(&public, &[]).is_ok());
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = r#"
[server]
prefix = "portcullis"
listen = "not an address"
colour = "blue"

[okta]
issuer = "ftp://example.com"
client_id = ""
request_timeout = "soon"

[session]
cookie_name = "__Host-portcullis"
cookie_secure = false

[upstream]
url = ""

[surprise]
x = 1
"#;
    let problems = assert_problem(load(text, &[]), "server.prefix");
    for key in [
        "server.listen",
        "server.colour",
        "okta.request_timeout",
        "surprise",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(key)),
            "no problem names {key}: {problems:#?}"
        );
    }
}

#[test]
fn semantic_problems_are_all_named() {
    let text = r#"
[server]
prefix = "portcullis"

[okta]
issuer = "ftp://example.com"
client_id = ""

[session]
cookie_name = "__Host-portcullis"
cookie_secure = false

[login]
max_code_attempts = 0

[upstream]
url = ""
"#;
    let problems = assert_problem(load(text, &[]), "server.prefix");
    for key in [
        "okta.issuer",
        "okta.client_id",
        "okta.client_secret",
        "session.cookie_name",
        "login.max_code_attempts",
        "upstream.url",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(key)),
            "no problem names {key}: {problems:#?}"
        );
    }
}

#[test]
fn env_list_names_the_invalid_item() {
    let pairs = [
        ("PORTCULLIS_OKTA_CLIENT_SECRET", "s3cret"),
        (
            "PORTCULLIS_SERVER_TRUSTED_PROXIES",
            "10.0.0.0/8,10.0.0.0/33",
        ),
    ];
    let problems = assert_problem(load(MINIMAL, &pairs), "server.trusted_proxies");
    assert!(
        problems.iter().all(|p| !p.contains("expected a sequence")),
        "the problem hides the invalid item: {problems:#?}"
    );
}

#[test]
fn https_upstream_is_rejected() {
    let secret = [("PORTCULLIS_OKTA_CLIENT_SECRET", "s3cret")];
    let text = MINIMAL.replace("http://127.0.0.1:8080", "https://app.internal");
    let problems = assert_problem(load(&text, &secret), "upstream.url");
    assert!(
        problems.iter().any(|p| p.contains("http://")),
        "the problem does not name the accepted scheme: {problems:#?}"
    );
}

#[test]
fn empty_issuer_and_upstream_are_required() {
    let problems = assert_problem(load("", &[]), "okta.issuer");
    assert!(problems.iter().any(|p| p.starts_with("upstream.url")));
    assert!(problems.iter().any(|p| p.starts_with("okta.client_id")));
}

#[test]
fn bad_duration_is_named() {
    let problems = assert_problem(
        load(MINIMAL, &[("PORTCULLIS_SESSION_LIFETIME", "forever")]),
        "PORTCULLIS_SESSION_LIFETIME",
    );
    assert!(problems[0].contains("session.lifetime"));
}

#[test]
fn unknown_env_key_is_named() {
    assert_problem(
        load(MINIMAL, &[("PORTCULLIS_OKTA_CLIENT_SECRETS", "x")]),
        "PORTCULLIS_OKTA_CLIENT_SECRETS",
    );
    assert_problem(
        load(MINIMAL, &[("PORTCULLIS_NOPE_X", "x")]),
        "PORTCULLIS_NOPE_X",
    );
}

#[test]
fn wrongly_typed_secret_is_not_echoed() {
    let text = MINIMAL.replace(
        "client_id = \"0oaexample\"",
        "client_id = \"0oaexample\"\nclient_secret = 123456789",
    );
    let problems = assert_problem(load(&text, &[]), "okta.client_secret");
    assert!(problems.iter().all(|p| !p.contains("123456789")));
}

#[test]
fn host_cookie_needs_https_public_url() {
    let text = format!("{MINIMAL}\n[server]\npublic_url = \"http://127.0.0.1:4180\"\n");
    assert_problem(
        load(&text, &[("PORTCULLIS_OKTA_CLIENT_SECRET", "s")]),
        "session.cookie_name",
    );
    let loaded = load(
        &text,
        &[
            ("PORTCULLIS_OKTA_CLIENT_SECRET", "s"),
            ("PORTCULLIS_SESSION_COOKIE_NAME", "portcullis"),
        ],
    )
    .unwrap();
    assert!(!loaded.config.cookie_secure());
}

#[test]
fn plain_http_public_host_is_rejected_under_auto() {
    let text = format!(
        "{MINIMAL}\n[server]\npublic_url = \"http://gw.example.com\"\n[session]\ncookie_name = \"portcullis\"\n"
    );
    assert_problem(
        load(&text, &[("PORTCULLIS_OKTA_CLIENT_SECRET", "s")]),
        "server.public_url",
    );
}

#[test]
fn cookie_secure_accepts_bool_and_auto() {
    for (value, expected) in [
        ("true", CookieSecure::Always),
        ("false", CookieSecure::Never),
        ("\"auto\"", CookieSecure::Auto),
    ] {
        let text = format!("{MINIMAL}\n[session]\ncookie_name = \"p\"\ncookie_secure = {value}\n");
        let loaded = load(&text, &[("PORTCULLIS_OKTA_CLIENT_SECRET", "s")]).unwrap();
        assert_eq!(loaded.config.session.cookie_secure, expected, "{value}");
    }
    let text = format!("{MINIMAL}\n[session]\ncookie_secure = \"maybe\"\n");
    assert_problem(load(&text, &[]), "session.cookie_secure");
}

#[test]
fn invalid_toml_is_reported() {
    assert_problem(load("[okta\n", &[]), "not valid TOML");
}

#[test]
fn shipped_configs_load() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let secret = [("PORTCULLIS_OKTA_CLIENT_SECRET", "example-secret")];
    for name in ["portcullis.example.toml", "demo.toml"] {
        let path = root.join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        if let Err(error) = Config::load_from(Some(&text), Some(&path), env(&secret)) {
            panic!("{name}: {error}");
        }
    }
}
