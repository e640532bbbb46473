//! The `portcullis` binary's exit codes and messages for configuration problems.

use std::process::{Command, Output};

const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"

[okta]
issuer = "http://127.0.0.1:9/oauth2/default"
client_id = "portcullis-demo"
client_secret = "portcullis-demo-secret"

[upstream]
url = "http://127.0.0.1:9"
"#;

/// Runs `portcullis <command> --config FILE` on `text` with extra environment variables.
fn run(command: &str, text: &str, env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("portcullis.toml");
    std::fs::write(&path, text).expect("write the configuration");
    let mut process = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    process.args([command, "--config"]).arg(&path);
    for (name, value) in env {
        process.env(name, value);
    }
    process.output().expect("run portcullis")
}

#[test]
fn check_accepts_valid_config() {
    let output = run("check", CONFIG, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

#[test]
fn https_upstream_exits_with_code_2() {
    let env = [("PORTCULLIS_UPSTREAM_URL", "https://app.internal")];
    for command in ["check", "serve"] {
        let output = run(command, CONFIG, &env);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command}: {stderr}");
        assert!(stderr.contains("upstream.url"), "{command}: {stderr}");
    }
}
