//! The browser sign-in pages end to end: forms posted like a browser posts them, with a
//! cookie store and no automatic redirects.

mod common;

use std::time::Duration;

use common::*;
use reqwest::{Client, StatusCode};
use serde_json::json;

const PAGE_PATH: &str = "/.portcullis/sign_in";

/// Builds a client that keeps cookies, as a browser does, and follows no redirects.
fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("build the browser-like client")
}

/// Returns the value of the first `<input>` named `name`, HTML-unescaped.
fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in:\n{html}"))
        + marker.len();
    let end = start + html[start..].find('"').expect("closing quote");
    unescape(&html[start..end])
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Starts a stack whose login rate limits, in the gateway and the emulator, leave room
/// for many sign-ins of one user per test.
async fn roomy_stack() -> Stack {
    let emulator = emulator_config().password_requests_per_second(0);
    spawn_stack_with(emulator, |config| {
        config.login.per_ip_per_minute = 1000;
        config.login.per_user_per_minute = 1000;
        config.login.sends_per_user_per_hour = 1000;
    })
    .await
}

/// One browser's way through the pages.
struct Visit<'a> {
    stack: &'a Stack,
    client: Client,
}

impl<'a> Visit<'a> {
    fn new(stack: &'a Stack) -> Self {
        Visit {
            stack,
            client: browser(),
        }
    }

    async fn get(&self, path_and_query: &str) -> Answer {
        let response = self
            .client
            .get(self.stack.url(path_and_query))
            .header("accept", "text/html")
            .send()
            .await
            .expect("GET through the gateway");
        Answer::read(response).await
    }

    async fn post(&self, route: &str, form: &[(&str, &str)]) -> Answer {
        let response = self
            .client
            .post(self.stack.route(route))
            .header("origin", self.stack.gateway.url())
            .form(form)
            .send()
            .await
            .expect("POST a sign-in form");
        Answer::read(response).await
    }

    /// Opens the password page for `rd` and posts the password form.
    async fn password(&self, rd: &str, username: &str, password: &str) -> (Answer, Answer) {
        let path = format!(
            "{PAGE_PATH}?{}",
            serde_urlencoded::to_string([("rd", rd)]).unwrap()
        );
        let page = self.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let token = field(&page.text, "csrf_token");
        let rd = field(&page.text, "rd");
        let answer = self
            .post(
                "/sign_in",
                &[
                    ("csrf_token", &token),
                    ("rd", &rd),
                    ("username", username),
                    ("password", password),
                ],
            )
            .await;
        (page, answer)
    }

    /// Posts the channel form of a channel page.
    async fn channel(&self, page: &Answer, channel: &str) -> Answer {
        self.post(
            "/sign_in/channel",
            &[
                ("csrf_token", &field(&page.text, "csrf_token")),
                ("rd", &field(&page.text, "rd")),
                ("transaction", &field(&page.text, "transaction")),
                ("channel", channel),
            ],
        )
        .await
    }

    /// Posts the code form of a code page, with `rd` as given.
    async fn code(&self, page: &Answer, code: &str, rd: &str) -> Answer {
        self.post(
            "/sign_in/code",
            &[
                ("csrf_token", &field(&page.text, "csrf_token")),
                ("rd", rd),
                ("transaction", &field(&page.text, "transaction")),
                ("channel", &field(&page.text, "channel")),
                ("code", code),
            ],
        )
        .await
    }

    /// Runs the pages up to the code page for alice by SMS.
    async fn to_code_page(&self, rd: &str) -> Answer {
        let (_, channels) = self.password(rd, ALICE, ALICE_PASSWORD).await;
        assert_eq!(channels.status, StatusCode::OK, "{}", channels.text);
        let code_page = self.channel(&channels, "sms").await;
        assert_eq!(code_page.status, StatusCode::OK, "{}", code_page.text);
        code_page
    }
}

fn assert_security_headers(answer: &Answer) {
    let csp = answer.header("content-security-policy");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("form-action 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("style-src 'nonce-"), "{csp}");
    assert_eq!(answer.header("x-frame-options"), "DENY");
    assert_eq!(answer.header("cache-control"), "no-store");
    assert_eq!(answer.header("referrer-policy"), "no-referrer");
    assert!(
        answer.header("content-type").starts_with("text/html"),
        "{}",
        answer.header("content-type")
    );
}

#[tokio::test]
async fn browser_flow_signs_in_and_forwards() {
    let stack = spawn_stack().await;
    let visit = Visit::new(&stack);

    // A page load without a credential is sent to the sign-in page.
    let redirect = visit.get("/app/page?x=1&y=two").await;
    assert_eq!(redirect.status, StatusCode::FOUND, "{}", redirect.text);
    let location = redirect.header("location");
    assert!(location.starts_with(PAGE_PATH), "{location}");

    let page = visit.get(&location).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_security_headers(&page);
    assert!(page.text.contains("name=\"password\""), "{}", page.text);
    assert!(!page.text.contains("<script"), "{}", page.text);
    assert_eq!(field(&page.text, "rd"), "/app/page?x=1&y=two");
    let csrf_cookie = page.header("set-cookie");
    assert!(
        csrf_cookie.starts_with(&format!("{COOKIE_NAME}_csrf=")),
        "{csrf_cookie}"
    );
    assert!(csrf_cookie.contains("HttpOnly"), "{csrf_cookie}");
    assert!(csrf_cookie.contains("SameSite=Strict"), "{csrf_cookie}");

    let password_form = [
        ("csrf_token", field(&page.text, "csrf_token")),
        ("rd", field(&page.text, "rd")),
        ("username", ALICE.to_string()),
        ("password", ALICE_PASSWORD.to_string()),
    ];
    let channels = Answer::read(
        visit
            .client
            .post(stack.route("/sign_in"))
            .form(&password_form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(channels.status, StatusCode::OK, "{}", channels.text);
    assert_security_headers(&channels);
    assert!(channels.text.contains("value=\"sms\""), "{}", channels.text);
    assert!(
        channels.text.contains("value=\"voice\""),
        "{}",
        channels.text
    );
    assert!(!channels.text.contains(ALICE_PASSWORD));
    assert!(field(&channels.text, "transaction").len() >= 22);

    let code_page = visit.channel(&channels, "sms").await;
    assert_eq!(code_page.status, StatusCode::OK, "{}", code_page.text);
    assert_security_headers(&code_page);
    assert!(
        code_page.text.contains("name=\"code\""),
        "{}",
        code_page.text
    );
    assert!(
        code_page.text.contains("Text me a new code"),
        "{}",
        code_page.text
    );
    assert!(
        code_page.text.contains("Call me with a code"),
        "{}",
        code_page.text
    );

    let code = stack.latest_code(ALICE_PHONE).await;
    let done = visit
        .code(&code_page, &code, &field(&code_page.text, "rd"))
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    assert_eq!(done.header("location"), "/app/page?x=1&y=two");
    assert_eq!(done.header("cache-control"), "no-store");
    let session_cookie = done.header("set-cookie");
    assert!(
        session_cookie.starts_with(&format!("{COOKIE_NAME}=")),
        "{session_cookie}"
    );
    // The same attributes as the JSON verify's cookie.
    assert!(session_cookie.contains("HttpOnly"), "{session_cookie}");
    assert!(session_cookie.contains("SameSite=Lax"), "{session_cookie}");
    assert!(session_cookie.contains("Path=/"), "{session_cookie}");

    let forwarded = visit.get(&done.header("location")).await;
    assert_eq!(forwarded.status, StatusCode::OK, "{}", forwarded.text);
    assert_eq!(forwarded.body["path"], "/app/page");
    assert_eq!(forwarded.body["headers"]["x-forwarded-user"], json!(ALICE));
    let upstream_cookie = forwarded.body["headers"]["cookie"].as_str().unwrap_or("");
    assert!(
        !upstream_cookie.contains(&format!("{COOKIE_NAME}=")),
        "the session cookie reached the upstream: {upstream_cookie}"
    );
}

#[tokio::test]
async fn resend_and_voice_send_new_codes() {
    let stack = spawn_stack().await;
    let visit = Visit::new(&stack);
    let code_page = visit.to_code_page("/").await;

    let resent = visit
        .post(
            "/sign_in/channel",
            &[
                ("csrf_token", &field(&code_page.text, "csrf_token")),
                ("rd", "/"),
                ("transaction", &field(&code_page.text, "transaction")),
                ("resend", "1"),
                ("channel", "voice"),
            ],
        )
        .await;
    assert_eq!(resent.status, StatusCode::OK, "{}", resent.text);
    assert!(resent.text.contains("calling you again"), "{}", resent.text);
    let messages = stack.outbox(Some(ALICE_PHONE)).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[1]["channel"], "voice");

    let code = stack.latest_code(ALICE_PHONE).await;
    let done = visit.code(&resent, &code, "/").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
}

#[tokio::test]
async fn wrong_password_shows_generic_error() {
    let stack = spawn_stack().await;
    let cases = [
        (ALICE, "wrong-password"),
        ("nobody@example.com", "whatever"),
        (CAROL, CAROL_PASSWORD),
    ];
    let mut bodies = Vec::new();
    for (username, password) in cases {
        let visit = Visit::new(&stack);
        let (_, answer) = visit.password("/", username, password).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{username}");
        assert_security_headers(&answer);
        assert!(
            answer.text.contains("username or password is incorrect"),
            "{}",
            answer.text
        );
        assert!(answer.text.contains("name=\"password\""));
        assert!(!answer.text.contains("name=\"transaction\""));
        assert!(!answer.text.contains(password));
        bodies.push(answer.text.replace(username, "USER"));
    }
    // Apart from the username, the three pages differ only in their random nonces and tokens.
    let strip = |text: &str| {
        text.lines()
            .filter(|line| !line.contains("nonce") && !line.contains("csrf_token"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&bodies[0]), strip(&bodies[1]));
    assert_eq!(strip(&bodies[0]), strip(&bodies[2]));
}

#[tokio::test]
async fn username_is_html_escaped() {
    let stack = spawn_stack().await;
    let visit = Visit::new(&stack);
    let username = "<script>alert(\"x\")</script>'";
    let (_, answer) = visit.password("/", username, "wrong").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
    assert!(!answer.text.contains("<script>"), "{}", answer.text);
    assert!(
        answer
            .text
            .contains("value=\"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#x27;\""),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn wrong_code_counts_attempts() {
    let stack = spawn_stack_with(emulator_config(), |config| {
        config.login.max_code_attempts = 2;
    })
    .await;
    let visit = Visit::new(&stack);
    let code_page = visit.to_code_page("/").await;

    let wrong = visit.code(&code_page, "000000", "/").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text);
    assert!(
        wrong
            .text
            .contains("The code is incorrect. 1 attempt remaining."),
        "{}",
        wrong.text
    );
    assert!(wrong.text.contains("name=\"code\""), "{}", wrong.text);

    let last = visit.code(&wrong, "000001", "/").await;
    assert!(
        last.text
            .contains("Too many incorrect codes. Sign in again."),
        "{}",
        last.text
    );
    assert!(last.text.contains("name=\"password\""), "{}", last.text);

    // The transaction is over: even the right code no longer works.
    let code = stack.latest_code(ALICE_PHONE).await;
    let late = visit.code(&wrong, &code, "/").await;
    assert_eq!(late.status, StatusCode::GONE, "{}", late.text);
    assert!(late.text.contains("Sign in again"), "{}", late.text);
}

#[tokio::test]
async fn expired_transaction_restarts_sign_in() {
    let stack = spawn_stack_with(emulator_config(), |config| {
        config.login.transaction_lifetime = Duration::from_millis(300);
    })
    .await;
    let visit = Visit::new(&stack);
    let (_, channels) = visit.password("/next", ALICE, ALICE_PASSWORD).await;
    assert_eq!(channels.status, StatusCode::OK, "{}", channels.text);
    tokio::time::sleep(Duration::from_millis(600)).await;

    let expired = visit.channel(&channels, "sms").await;
    assert_eq!(expired.status, StatusCode::GONE, "{}", expired.text);
    assert!(
        expired
            .text
            .contains("Your sign-in expired. Sign in again."),
        "{}",
        expired.text
    );
    assert!(
        expired.text.contains("name=\"password\""),
        "{}",
        expired.text
    );
    assert_eq!(field(&expired.text, "rd"), "/next");
    assert!(stack.outbox(None).await.is_empty());
}

#[tokio::test]
async fn missing_or_wrong_csrf_token_is_forbidden() {
    let stack = spawn_stack().await;
    let visit = Visit::new(&stack);
    let page = visit.get(PAGE_PATH).await;
    let token = field(&page.text, "csrf_token");

    let missing = visit
        .post(
            "/sign_in",
            &[("username", ALICE), ("password", ALICE_PASSWORD)],
        )
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN, "{}", missing.text);
    assert_security_headers(&missing);

    let wrong = visit
        .post(
            "/sign_in",
            &[
                ("csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                ("username", ALICE),
                ("password", ALICE_PASSWORD),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.text);

    // A valid token is useless without the cookie it was derived from.
    let no_cookie = Answer::read(
        stack
            .client
            .post(stack.route("/sign_in"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("username", ALICE),
                ("password", ALICE_PASSWORD),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        no_cookie.status,
        StatusCode::FORBIDDEN,
        "{}",
        no_cookie.text
    );

    // The password page's token does not work for a transaction's forms.
    let (_, channels) = visit.password("/", ALICE, ALICE_PASSWORD).await;
    let reused = visit
        .post(
            "/sign_in/channel",
            &[
                ("csrf_token", token.as_str()),
                ("transaction", &field(&channels.text, "transaction")),
                ("channel", "sms"),
            ],
        )
        .await;
    assert_eq!(reused.status, StatusCode::FORBIDDEN, "{}", reused.text);

    // No password was ever checked by the refused forms: one token call in all.
    assert_eq!(stack.emulator_stats().await["token"], 1);
    assert!(stack.outbox(None).await.is_empty());
}

#[tokio::test]
async fn cross_site_post_is_forbidden() {
    let stack = spawn_stack().await;
    let visit = Visit::new(&stack);
    let page = visit.get(PAGE_PATH).await;
    let form = [
        ("csrf_token", field(&page.text, "csrf_token")),
        ("username", ALICE.to_string()),
        ("password", ALICE_PASSWORD.to_string()),
    ];
    let cases = [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("origin", "http://127.0.0.1:1"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ];
    for (name, value) in cases {
        let response = visit
            .client
            .post(stack.route("/sign_in"))
            .header(name, value)
            .form(&form)
            .send()
            .await
            .unwrap();
        let answer = Answer::read(response).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{name}: {value}");
        assert!(answer.text.contains("another site"), "{}", answer.text);
    }
    assert_eq!(
        stack.emulator_stats().await["token"].as_u64().unwrap_or(0),
        0
    );

    let same_origin = visit
        .client
        .post(stack.route("/sign_in"))
        .header("origin", stack.gateway.url())
        .header("sec-fetch-site", "same-origin")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_return_paths_redirect_to_root() {
    let stack = roomy_stack().await;
    let long = format!("/{}", "a".repeat(5000));
    let cases = [
        "//evil.example",
        "//evil.example/path",
        "/\\evil.example",
        "https://evil.example",
        "/%2F%2Fevil",
        "/%2f%2fevil.example",
        "/%5Cevil.example",
        "javascript:alert(1)",
        "/x\r\nSet-Cookie: injected=1",
        "/x%0d%0aSet-Cookie:%20injected=1",
        long.as_str(),
    ];
    for rd in cases {
        let visit = Visit::new(&stack);
        let code_page = visit.to_code_page(rd).await;
        assert_eq!(field(&code_page.text, "rd"), "/", "{rd:?}");
        let code = stack.latest_code(ALICE_PHONE).await;
        // The hidden field is tampered with: the raw value goes back on the last step.
        let done = visit.code(&code_page, &code, rd).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{rd:?}: {}", done.text);
        assert_eq!(done.header("location"), "/", "{rd:?}");
    }
}

#[tokio::test]
async fn good_return_path_is_kept() {
    let stack = spawn_stack().await;
    let visit = Visit::new(&stack);
    let code_page = visit.to_code_page("/reports/2024?sort=desc#top").await;
    let code = stack.latest_code(ALICE_PHONE).await;
    let done = visit
        .code(&code_page, &code, &field(&code_page.text, "rd"))
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    // The fragment never reaches a server, and `#` is not valid in a return path.
    assert_eq!(done.header("location"), "/");

    let visit = Visit::new(&stack);
    let code_page = visit.to_code_page("/reports/2024?sort=desc").await;
    let code = stack.latest_code(ALICE_PHONE).await;
    let done = visit
        .code(&code_page, &code, &field(&code_page.text, "rd"))
        .await;
    assert_eq!(done.header("location"), "/reports/2024?sort=desc");
}

#[tokio::test]
async fn rate_limit_shows_retry_time() {
    let stack = spawn_stack_with(emulator_config(), |config| {
        config.login.per_ip_per_minute = 2;
    })
    .await;
    let visit = Visit::new(&stack);
    let (_, first) = visit.password("/", ALICE, "wrong-1").await;
    assert_eq!(first.status, StatusCode::UNAUTHORIZED, "{}", first.text);
    let (_, second) = visit.password("/", ALICE, "wrong-2").await;
    assert_eq!(second.status, StatusCode::UNAUTHORIZED, "{}", second.text);
    let (_, limited) = visit.password("/", ALICE, "wrong-3").await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text
    );
    let retry_after: u64 = limited.header("retry-after").parse().expect("Retry-After");
    assert!(retry_after >= 1, "{retry_after}");
    assert!(
        limited
            .text
            .contains(&format!("Try again in {retry_after} seconds.")),
        "{}",
        limited.text
    );
}

#[tokio::test]
async fn idp_outage_shows_message() {
    let stack = spawn_stack().await;
    stack
        .inject_fault(json!({"endpoint": "token", "status": 503, "count": 1}))
        .await;
    let visit = Visit::new(&stack);
    let (_, answer) = visit.password("/", ALICE, ALICE_PASSWORD).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text
    );
    assert!(
        answer.text.contains("sign-in service is unavailable"),
        "{}",
        answer.text
    );
    assert!(answer.text.contains(&format!("value=\"{ALICE}\"")));
}

#[tokio::test]
async fn oversized_or_non_form_body_is_rejected() {
    let stack = spawn_stack().await;
    let visit = Visit::new(&stack);
    visit.get(PAGE_PATH).await;
    let json_body = visit
        .client
        .post(stack.route("/sign_in"))
        .json(&json!({"username": ALICE, "password": ALICE_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let huge = "a".repeat(64 * 1024);
    let too_large = visit
        .client
        .post(stack.route("/sign_in"))
        .form(&[("username", huge.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// Loads the sign-in page in headless Chromium and checks the form rendered under the
/// page's Content-Security-Policy.
#[tokio::test]
async fn chromium_renders_sign_in_form() {
    let chromium = std::path::Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "/usr/bin/chromium is missing; .ci/run installs it"
        );
        eprintln!(
            "SKIPPED chromium_renders_sign_in_form: /usr/bin/chromium is missing \
             (install it with `apt-get install chromium`)"
        );
        return;
    }
    let stack = spawn_stack().await;
    let profile = tempfile::tempdir().expect("create a Chromium profile directory");

    let url = stack.url(&format!("{PAGE_PATH}?rd=/app%3Fa%3D1"));
    let run = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(&url)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("Chromium finished within 90 s")
        .expect("run Chromium");

    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "Chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dom.contains("<form method=\"post\""), "{dom}");
    assert!(dom.contains("name=\"username\""), "{dom}");
    assert!(dom.contains("name=\"password\""), "{dom}");
    assert!(dom.contains("value=\"/app?a=1\""), "{dom}");
    assert!(dom.contains("Continue</button>"), "{dom}");
}
