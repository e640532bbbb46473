//! Log hygiene of the sign-in pages: a run at `trace` level with a wrong password, a
//! wrong code and a successful sign-in must not log any password, code, form token,
//! transaction id or cookie. This file contains one test because it installs the
//! global subscriber.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;

/// Returns the value of the first `<input>` named `name`; the values read here are
/// base64url or plain paths, so no unescaping is needed.
fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("field present") + marker.len();
    let end = start + html[start..].find('"').expect("closing quote");
    html[start..end].to_string()
}

/// Returns the value of a `Set-Cookie` header, without attributes.
fn cookie_value(answer: &Answer) -> String {
    let set_cookie = answer.header("set-cookie");
    let pair = set_cookie.split(';').next().unwrap_or("");
    pair.split_once('=')
        .map_or("", |(_, value)| value)
        .to_string()
}

#[tokio::test]
async fn sign_in_pages_log_no_secret() {
    let captured = capture_trace_logs();

    let stack = spawn_stack().await;
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let post = |route: &str, form: Vec<(&str, String)>| {
        let request = client.post(stack.route(route)).form(&form);
        async move { Answer::read(request.send().await.expect("POST a form")).await }
    };

    let page = Answer::read(
        client
            .get(stack.route("/sign_in?rd=/private"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let csrf_cookie = cookie_value(&page);
    let first_token = field(&page.text, "csrf_token");

    let wrong_password = "Wrong-Password-123";
    let rejected = post(
        "/sign_in",
        vec![
            ("csrf_token", first_token.clone()),
            ("username", ALICE.into()),
            ("password", wrong_password.into()),
        ],
    )
    .await;
    assert_eq!(rejected.status, StatusCode::UNAUTHORIZED);

    let channels = post(
        "/sign_in",
        vec![
            ("csrf_token", first_token.clone()),
            ("rd", "/private".into()),
            ("username", ALICE.into()),
            ("password", ALICE_PASSWORD.into()),
        ],
    )
    .await;
    assert_eq!(channels.status, StatusCode::OK, "{}", channels.text);
    let transaction_id = field(&channels.text, "transaction");
    let token = field(&channels.text, "csrf_token");

    let code_page = post(
        "/sign_in/channel",
        vec![
            ("csrf_token", token.clone()),
            ("transaction", transaction_id.clone()),
            ("channel", "sms".into()),
        ],
    )
    .await;
    assert_eq!(code_page.status, StatusCode::OK, "{}", code_page.text);
    let code = stack.latest_code(ALICE_PHONE).await;
    let wrong_code = if code == "99999999" {
        "88888888"
    } else {
        "99999999"
    };
    let code_form = |code: &str| {
        vec![
            ("csrf_token", token.clone()),
            ("rd", "/private".to_string()),
            ("transaction", transaction_id.clone()),
            ("code", code.to_string()),
        ]
    };
    let wrong = post("/sign_in/code", code_form(wrong_code)).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text);
    let done = post("/sign_in/code", code_form(&code)).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let session_id = cookie_value(&done);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("sign_in"),
        "the sign-in handlers logged nothing"
    );
    let secrets = [
        ("password", ALICE_PASSWORD),
        ("wrong password", wrong_password),
        ("code", code.as_str()),
        ("wrong code", wrong_code),
        ("transaction id", transaction_id.as_str()),
        ("CSRF cookie", csrf_cookie.as_str()),
        ("first form token", first_token.as_str()),
        ("form token", token.as_str()),
        ("session id", session_id.as_str()),
    ];
    for (what, secret) in secrets {
        assert!(secret.len() >= 6, "{what} is too short to search for");
        assert!(!logs.contains(secret), "the {what} appears in the logs");
    }
}
