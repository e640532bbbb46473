//! The HTML of the sign-in pages and the security headers they are served with.
//!
//! Pages are plain server-rendered forms: no JavaScript and no external assets. Every
//! value that did not come from this file passes through [`escape`].

use std::fmt::Write as _;

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

use crate::okta::Channel;

/// Characters percent-encoded in the `rd` query parameter of links to the sign-in page.
const RD_ESCAPE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The fields that every form of one browser's sign-in carries besides its own.
pub struct FormContext<'a> {
    /// The gateway route prefix, e.g. `/.portcullis`.
    pub prefix: &'a str,
    /// The validated return path.
    pub rd: &'a str,
    /// The form token of this form (see `guard::form_token`).
    pub token: &'a str,
}

/// A notice shown above a form.
pub enum Notice {
    Error(String),
    Info(String),
}

/// Renders the password page.
pub fn password_page(form: &FormContext, username: &str, notice: Option<&Notice>) -> String {
    let mut body = String::new();
    body.push_str("<h1>Sign in</h1>\n");
    push_notice(&mut body, notice);
    let _ = write!(
        body,
        r#"<form method="post" action="{action}">
{hidden}<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required{username_focus} value="{username}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required{password_focus}>
<button type="submit">Continue</button>
</form>
"#,
        action = escape(&format!("{}/sign_in", form.prefix)),
        hidden = hidden_fields(form, &[]),
        username = escape(username),
        // After a failed attempt the username is filled in, so the password gets focus.
        username_focus = if username.is_empty() {
            " autofocus"
        } else {
            ""
        },
        password_focus = if username.is_empty() {
            ""
        } else {
            " autofocus"
        },
    );
    body
}

/// Renders the page where the user picks the phone channel that receives the code.
pub fn channel_page(
    form: &FormContext,
    transaction_id: &str,
    channels: &[Channel],
    notice: Option<&Notice>,
) -> String {
    let mut body = String::new();
    body.push_str("<h1>Verify it is you</h1>\n");
    push_notice(&mut body, notice);
    body.push_str("<p>Choose how to receive a one-time code on your phone.</p>\n");
    let _ = write!(
        body,
        r#"<form method="post" action="{action}">
{hidden}"#,
        action = escape(&format!("{}/sign_in/channel", form.prefix)),
        hidden = hidden_fields(form, &[("transaction", transaction_id)]),
    );
    for channel in channels {
        let _ = writeln!(
            body,
            r#"<button type="submit" name="channel" value="{}">{}</button>"#,
            channel.as_str(),
            send_label(*channel),
        );
    }
    body.push_str("</form>\n");
    push_start_again(&mut body, form);
    body
}

/// Renders the code form for a code sent on `channel`, and a form to send another.
pub fn code_page(
    form: &FormContext,
    transaction_id: &str,
    channel: Channel,
    channels: &[Channel],
    notice: Option<&Notice>,
) -> String {
    let mut body = String::new();
    body.push_str("<h1>Enter your code</h1>\n");
    push_notice(&mut body, notice);
    let sent = match channel {
        Channel::Sms => "We sent a code to your phone by text message.",
        Channel::Voice => "We are calling your phone to read you a code.",
    };
    let _ = write!(
        body,
        r#"<p>{sent}</p>
<form method="post" action="{action}">
{hidden}<label for="code">Code</label>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="12" required autofocus>
<button type="submit">Verify</button>
</form>
"#,
        action = escape(&format!("{}/sign_in/code", form.prefix)),
        hidden = hidden_fields(
            form,
            &[
                ("transaction", transaction_id),
                ("channel", channel.as_str())
            ]
        ),
    );

    let _ = write!(
        body,
        r#"<form class="secondary" method="post" action="{action}">
{hidden}<p>No code?</p>
"#,
        action = escape(&format!("{}/sign_in/channel", form.prefix)),
        hidden = hidden_fields(form, &[("transaction", transaction_id), ("resend", "1")]),
    );
    let _ = writeln!(
        body,
        r#"<button type="submit" name="channel" value="{}">{}</button>"#,
        channel.as_str(),
        resend_label(channel),
    );
    for other in channels.iter().filter(|other| **other != channel) {
        let _ = writeln!(
            body,
            r#"<button type="submit" name="channel" value="{}">{}</button>"#,
            other.as_str(),
            send_label(*other),
        );
    }
    body.push_str("</form>\n");
    push_start_again(&mut body, form);
    body
}

/// Renders a heading, a message and a link back to the password page.
pub fn message_page(prefix: &str, rd: &str, title: &str, message: &str) -> String {
    let mut body = String::new();
    let _ = writeln!(body, "<h1>{}</h1>", escape(title));
    push_notice(&mut body, Some(&Notice::Error(message.to_string())));
    let _ = writeln!(
        body,
        r#"<p><a href="{}">Start again</a></p>"#,
        escape(&sign_in_href(prefix, rd))
    );
    body
}

/// Builds the HTML response with the sign-in pages' security headers.
///
/// The style sheet is inline and allowed by a per-response nonce. Nothing else may
/// load, forms may post only to this origin, and no site may frame the page.
pub fn html_response(status: StatusCode, title: &str, body: &str) -> Response {
    let nonce = new_nonce();
    let document = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
<style nonce="{nonce}">{STYLE}</style>
</head>
<body>
<main>
{body}</main>
</body>
</html>
"#,
        title = escape(title),
    );
    let csp = format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = (status, document).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    add_security_headers(headers);
    response
}

/// Adds the headers that every sign-in response carries, redirects included.
pub fn add_security_headers(headers: &mut http::HeaderMap) {
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Returns the URL of the password page that returns to `rd`.
pub fn sign_in_href(prefix: &str, rd: &str) -> String {
    let rd = percent_encoding::utf8_percent_encode(rd, RD_ESCAPE);
    format!("{prefix}/sign_in?rd={rd}")
}

fn hidden_fields(form: &FormContext, extra: &[(&str, &str)]) -> String {
    let mut fields = String::new();
    let common = [("csrf_token", form.token), ("rd", form.rd)];
    for (name, value) in common.iter().chain(extra) {
        let _ = writeln!(
            fields,
            r#"<input type="hidden" name="{name}" value="{}">"#,
            escape(value)
        );
    }
    fields
}

fn push_notice(body: &mut String, notice: Option<&Notice>) {
    match notice {
        Some(Notice::Error(text)) => {
            let _ = writeln!(
                body,
                r#"<p class="error" role="alert">{}</p>"#,
                escape(text)
            );
        }
        Some(Notice::Info(text)) => {
            let _ = writeln!(
                body,
                r#"<p class="info" role="status">{}</p>"#,
                escape(text)
            );
        }
        None => {}
    }
}

fn push_start_again(body: &mut String, form: &FormContext) {
    let _ = writeln!(
        body,
        r#"<p class="restart"><a href="{}">Not you? Start again</a></p>"#,
        escape(&sign_in_href(form.prefix, form.rd))
    );
}

fn send_label(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "Text me a code",
        Channel::Voice => "Call me with a code",
    }
}

fn resend_label(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "Text me a new code",
        Channel::Voice => "Call me again",
    }
}

/// Generates a random 128-bit nonce for the style sheet, base64url.
fn new_nonce() -> String {
    use base64::Engine;
    use rand::RngCore;

    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;\
background:#f3f4f6;color:#111827;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}\
main{width:100%;max-width:24rem;margin:1rem;padding:2rem;background:#fff;border-radius:.5rem;\
box-shadow:0 1px 3px rgba(0,0,0,.12)}\
h1{margin:0 0 1rem;font-size:1.5rem}\
label{display:block;margin:.75rem 0 .25rem;font-weight:600}\
input{width:100%;padding:.5rem .625rem;border:1px solid #9ca3af;border-radius:.375rem;font:inherit}\
input:focus,button:focus{outline:2px solid #2563eb;outline-offset:1px}\
button{display:block;width:100%;margin-top:1rem;padding:.625rem;border:0;border-radius:.375rem;\
background:#1d4ed8;color:#fff;font:inherit;font-weight:600;cursor:pointer}\
button:hover{background:#1e40af}\
.secondary{margin-top:1.5rem;padding-top:1rem;border-top:1px solid #e5e7eb}\
.secondary p{margin:0;color:#4b5563}\
.secondary button{background:#fff;color:#1d4ed8;border:1px solid #1d4ed8;margin-top:.5rem}\
.secondary button:hover{background:#eff6ff}\
.error{padding:.5rem .75rem;border-radius:.375rem;background:#fef2f2;color:#991b1b;border:1px solid #fecaca}\
.info{padding:.5rem .75rem;border-radius:.375rem;background:#eff6ff;color:#1e3a8a;border:1px solid #bfdbfe}\
.restart{margin:1.25rem 0 0;font-size:.875rem}\
a{color:#1d4ed8}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert('x')</script>&""#),
            "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;&quot;"
        );
    }

    #[test]
    fn sign_in_href_encodes_query() {
        assert_eq!(
            sign_in_href("/.portcullis", "/a?b=c&d"),
            "/.portcullis/sign_in?rd=/a%3Fb%3Dc%26d"
        );
    }
}
