//! Checks the emulator's responses against the response schemas of Okta's OAuth
//! OpenAPI document (`oauth-openapi.yaml`): required properties, property types and
//! enum values, with `$ref`s resolved inside the file. Enum values that Okta adds
//! behind a feature flag (`x-okta-feature-flag-amends`) count as valid.
//!
//! The document is read from the `shared/okta-reference/` folder next to the
//! repository. Without it the test fails when `CI` is set and is skipped otherwise.

#[path = "common/emulator.rs"]
mod emulator_common;

use std::path::PathBuf;

use emulator_common::*;
use reqwest::StatusCode;
use serde_json::Value;

const CUSTOM: &str = "/oauth2/{authorizationServerId}";

fn load_spec() -> Option<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/okta-reference/oauth-openapi.yaml");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "Okta's OpenAPI document is missing at {}: {err}",
                    path.display()
                );
            }
            eprintln!(
                "SKIPPED: the emulator contract test needs {} ({err})",
                path.display()
            );
            return None;
        }
    };
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("parse the OpenAPI YAML");
    Some(serde_json::to_value(yaml).expect("convert the OpenAPI YAML to JSON"))
}

/// Follows a local `$ref` such as `#/components/schemas/OAuthError`.
fn resolve<'a>(spec: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..16 {
        let Some(reference) = node.get("$ref").and_then(Value::as_str) else {
            return node;
        };
        let pointer = reference.strip_prefix('#').expect("local $ref");
        node = spec
            .pointer(pointer)
            .unwrap_or_else(|| panic!("unresolved $ref {reference}"));
    }
    panic!("$ref chain too long");
}

/// Looks up the JSON schema of one documented response.
fn response_schema<'a>(spec: &'a Value, path: &str, method: &str, status: &str) -> &'a Value {
    let operation = &spec["paths"][path][method];
    assert!(
        operation.is_object(),
        "no operation {method} {path} in the spec"
    );
    let response = resolve(spec, &operation["responses"][status]);
    assert!(
        response.is_object(),
        "no {status} response for {method} {path}"
    );
    resolve(spec, &response["content"]["application/json"]["schema"])
}

/// Enum values of a schema, including values amended behind feature flags.
fn enum_values(schema: &Value) -> Option<Vec<Value>> {
    let mut values = schema.get("enum")?.as_array()?.clone();
    if let Some(amends) = schema
        .get("x-okta-feature-flag-amends")
        .and_then(Value::as_object)
    {
        for amend in amends.values() {
            if let Some(extra) = amend.get("enum").and_then(Value::as_array) {
                values.extend(extra.iter().cloned());
            }
        }
    }
    Some(values)
}

fn validate(spec: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    if value.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
        return;
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            validate(spec, part, value, at, problems);
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let matches = options.iter().any(|option| {
                let mut inner = Vec::new();
                validate(spec, option, value, at, &mut inner);
                inner.is_empty()
            });
            if !matches {
                problems.push(format!("{at}: matches none of the {key} schemas"));
            }
        }
    }
    if let Some(expected) = schema.get("type").and_then(Value::as_str) {
        let ok = match expected {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => true,
        };
        if !ok {
            problems.push(format!("{at}: expected {expected}, got {value}"));
            return;
        }
    }
    if let Some(allowed) = enum_values(schema) {
        if !allowed.contains(value) {
            problems.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if value.get(name).is_none() {
                problems.push(format!("{at}: missing required property {name}"));
            }
        }
    }
    if let (Some(properties), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) {
        for (name, property_schema) in properties {
            if let Some(member) = object.get(name) {
                validate(
                    spec,
                    property_schema,
                    member,
                    &format!("{at}.{name}"),
                    problems,
                );
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            validate(spec, items, item, &format!("{at}[{i}]"), problems);
        }
    }
}

fn assert_conforms(spec: &Value, path: &str, method: &str, answer: &Answer) {
    let status = answer.status.as_u16().to_string();
    let schema = response_schema(spec, path, method, &status);
    let mut problems = Vec::new();
    validate(spec, schema, &answer.body, "$", &mut problems);
    assert!(
        problems.is_empty(),
        "{method} {path} {status} does not match the spec:\n{}\nbody: {}",
        problems.join("\n"),
        answer.text
    );
}

#[tokio::test]
async fn responses_match_okta_openapi() {
    let Some(spec) = load_spec() else {
        return;
    };
    let t = start().await;
    let token_path = format!("{CUSTOM}/v1/token");

    // /token errors: 400 invalid_scope, 401 invalid_client, 403 mfa_required.
    let no_scope = t
        .post(
            "token",
            &[
                ("grant_type", "password"),
                ("username", ALICE),
                ("password", "x"),
            ],
        )
        .await;
    assert_eq!(no_scope.status, StatusCode::BAD_REQUEST);
    assert_conforms(&spec, &token_path, "post", &no_scope);
    let no_client = answer(
        t.http
            .post(t.endpoint("token"))
            .form(&[("grant_type", "password")])
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(no_client.status, StatusCode::UNAUTHORIZED);
    assert_conforms(&spec, &token_path, "post", &no_client);
    let step = t.password(ALICE, ALICE_PASSWORD).await;
    assert_eq!(step.status, StatusCode::FORBIDDEN);
    assert_conforms(&spec, &token_path, "post", &step);

    // /challenge 200 and 400, 401, 403.
    let mfa_token = step.str("mfa_token");
    let challenge_path = format!("{CUSTOM}/v1/challenge");
    let challenge = t.challenge(&mfa_token, "sms").await;
    assert_conforms(&spec, &challenge_path, "post", &challenge);
    let bad_channel = t.challenge(&mfa_token, "pigeon").await;
    assert_conforms(&spec, &challenge_path, "post", &bad_channel);
    let expired = t.challenge("unknown", "sms").await;
    assert_conforms(&spec, &challenge_path, "post", &expired);

    // /token 200 through the mfa-oob grant.
    let code = t.last_code(ALICE_PHONE).await;
    let tokens = t
        .redeem(&mfa_token, &challenge.str("oob_code"), &code)
        .await;
    assert_eq!(tokens.status, StatusCode::OK);
    assert_conforms(&spec, &token_path, "post", &tokens);

    // /introspect 200 (active, inactive) and 400.
    let introspect_path = format!("{CUSTOM}/v1/introspect");
    assert_conforms(
        &spec,
        &introspect_path,
        "post",
        &t.introspect(&tokens.str("access_token")).await,
    );
    assert_conforms(
        &spec,
        &introspect_path,
        "post",
        &t.introspect(&tokens.str("refresh_token")).await,
    );
    assert_conforms(
        &spec,
        &introspect_path,
        "post",
        &t.introspect("nothing").await,
    );
    assert_conforms(
        &spec,
        &introspect_path,
        "post",
        &t.post("introspect", &[]).await,
    );

    // /userinfo 200.
    let userinfo = answer(
        t.http
            .get(t.endpoint("userinfo"))
            .bearer_auth(tokens.str("access_token"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_conforms(&spec, &format!("{CUSTOM}/v1/userinfo"), "get", &userinfo);

    // /keys 200.
    let keys = answer(t.http.get(t.endpoint("keys")).send().await.expect("send")).await;
    assert_conforms(&spec, &format!("{CUSTOM}/v1/keys"), "get", &keys);

    // /revoke: 200 with an empty body (the spec declares no content), and 400.
    let revoke_path = format!("{CUSTOM}/v1/revoke");
    let revoked = t
        .post("revoke", &[("token", &tokens.str("access_token"))])
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert!(revoked.text.is_empty());
    let revoke_operation = &spec["paths"][revoke_path.as_str()]["post"]["responses"]["200"];
    assert!(
        revoke_operation.is_object(),
        "the spec documents /revoke 200"
    );
    assert_conforms(&spec, &revoke_path, "post", &t.post("revoke", &[]).await);

    // Discovery: both documents, the org server, and the 400 and 404 errors.
    let issuer = t.emulator.issuer();
    let base = t.emulator.base_url();
    for (url, path) in [
        (
            format!("{issuer}/.well-known/openid-configuration"),
            format!("{CUSTOM}/.well-known/openid-configuration"),
        ),
        (
            format!("{issuer}/.well-known/oauth-authorization-server"),
            format!("{CUSTOM}/.well-known/oauth-authorization-server"),
        ),
        (
            format!("{base}/.well-known/openid-configuration"),
            "/.well-known/openid-configuration".to_string(),
        ),
        (
            format!("{issuer}/.well-known/openid-configuration?client_id=nobody"),
            format!("{CUSTOM}/.well-known/openid-configuration"),
        ),
        (
            format!("{base}/oauth2/nope/.well-known/oauth-authorization-server"),
            format!("{CUSTOM}/.well-known/oauth-authorization-server"),
        ),
    ] {
        let document = answer(t.http.get(&url).send().await.expect("send")).await;
        assert_conforms(&spec, &path, "get", &document);
    }
}

#[test]
fn validator_rejects_mismatches() {
    let Some(spec) = load_spec() else {
        return;
    };
    let schema = response_schema(&spec, &format!("{CUSTOM}/v1/challenge"), "post", "200");
    let mut problems = Vec::new();
    let body = serde_json::json!({ "oob_code": 5, "channel": "pigeon", "expires_in": "300" });
    validate(&spec, schema, &body, "$", &mut problems);
    assert_eq!(problems.len(), 3, "{problems:?}");
}
