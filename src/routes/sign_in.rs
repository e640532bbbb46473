//! The browser sign-in pages: password, then the phone channel, then the code.
//!
//! `GET /sign_in?rd=/path` shows the password form. Each form posts to the next step
//! (`POST /sign_in`, `/sign_in/channel`, `/sign_in/code`), which runs the same flow as
//! the JSON login API ([`crate::login`]) with its rate limits and attempt counts. A
//! verified code sets the session cookie exactly as `POST /verify` does and redirects
//! (`303`) to `rd`, checked again on every step by [`guard::safe_return_path`].
//!
//! CSRF: the first page sets a random cookie, and every form carries a token derived
//! from that cookie and the login transaction id, checked on each POST. POSTs that a
//! browser marks as cross-site (`Origin`, `Sec-Fetch-Site`) are rejected with `403`.

mod guard;
mod pages;

use axum::extract::{RawQuery, Request, State};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, StatusCode};

use self::guard::{FormError, FormFields};
pub(crate) use self::pages::sign_in_href;
use self::pages::{FormContext, Notice};
use crate::client_ip::ClientIp;
use crate::error::{ApiError, RequestId};
use crate::gateway::Gateway;
use crate::login::{self, retry_after_secs, Ended, LoginError, LoginOutcome, NewSession};
use crate::okta::Channel;
use crate::secret::Secret;
use crate::session::new_session_id;

pub use self::guard::safe_return_path;

/// A POSTed sign-in form that passed the origin and CSRF checks.
struct Submission {
    fields: FormFields,
    /// The browser's CSRF cookie.
    cookie: Secret<String>,
    /// The validated return path.
    rd: String,
}

/// The step whose page is shown again after a failure.
enum Step<'a> {
    Password {
        username: &'a str,
    },
    Channel {
        transaction_id: &'a str,
    },
    Code {
        transaction_id: &'a str,
        channel: Channel,
    },
}

/// `GET /sign_in?rd=/path`: the password page.
pub async fn page(
    State(gateway): State<Gateway>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let config = &gateway.config;
    let rd_param = query
        .as_deref()
        .and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(key, _)| key == "rd")
                .map(|(_, value)| value.into_owned())
        })
        .unwrap_or_default();
    let rd = safe_return_path(&rd_param);

    // An existing cookie is kept, so several tabs can sign in at once.
    let (cookie, new_cookie) = match guard::csrf_cookie(&headers, config) {
        Some(cookie) => (cookie, None),
        None => {
            // Same generator as session ids: 256 random bits in base64url.
            let cookie = new_session_id();
            let set_cookie = guard::csrf_set_cookie(config, &cookie);
            (cookie, Some(set_cookie))
        }
    };
    let token = guard::form_token(&cookie, "");
    let form = FormContext {
        prefix: prefix(&gateway),
        rd,
        token: &token,
    };
    let mut response = pages::html_response(
        StatusCode::OK,
        "Sign in",
        &pages::password_page(&form, "", None),
    );
    if let Some(set_cookie) = new_cookie.and_then(|value| HeaderValue::from_str(&value).ok()) {
        response
            .headers_mut()
            .insert(header::SET_COOKIE, set_cookie);
    }
    response
}

/// `POST /sign_in`: checks the password and shows the channel page.
#[tracing::instrument(name = "sign_in_password", skip_all, fields(client = %ip))]
pub async fn submit_password(
    State(gateway): State<Gateway>,
    ClientIp(ip): ClientIp,
    request: Request,
) -> Response {
    let mut submission = match accept_form(&gateway, request).await {
        Ok(submission) => submission,
        Err(response) => return response,
    };
    let username = submission.fields.take("username");
    let password = Secret::new(submission.fields.take("password"));

    match login::start(&gateway, ip, &username, &password).await {
        Ok(LoginOutcome::MfaRequired {
            transaction_id,
            channels,
            ..
        }) => {
            let transaction_id = transaction_id.expose();
            let token = guard::form_token(&submission.cookie, transaction_id);
            let form = form_context(&gateway, &submission, &token);
            let body = pages::channel_page(&form, transaction_id, &channels, None);
            pages::html_response(StatusCode::OK, "Verify it is you", &body)
        }
        Ok(LoginOutcome::Authenticated(session)) => signed_in(&gateway, &session, &submission.rd),
        Err(error) => failure(
            &gateway,
            &submission,
            Step::Password {
                username: &username,
            },
            error,
        ),
    }
}

/// `POST /sign_in/channel`: sends a code (or a new one) and shows the code page.
#[tracing::instrument(name = "sign_in_channel", skip_all, fields(client = %ip))]
pub async fn submit_channel(
    State(gateway): State<Gateway>,
    ClientIp(ip): ClientIp,
    request: Request,
) -> Response {
    let submission = match accept_form(&gateway, request).await {
        Ok(submission) => submission,
        Err(response) => return response,
    };
    let transaction_id = submission.fields.get("transaction");
    let step = Step::Channel { transaction_id };
    let Some(channel) = Channel::from_name(submission.fields.get("channel")) else {
        let error = LoginError::InvalidInput("channel must be \"sms\" or \"voice\"");
        return failure(&gateway, &submission, step, error);
    };
    let resend = submission.fields.get("resend") == "1";

    match login::challenge(&gateway, ip, transaction_id, channel).await {
        Ok(sent) => {
            let notice = resend.then(|| {
                Notice::Info(match sent.channel {
                    Channel::Sms => "We sent a new code.".to_string(),
                    Channel::Voice => "We are calling you again.".to_string(),
                })
            });
            render_code_page(
                &gateway,
                &submission,
                transaction_id,
                sent.channel,
                notice.as_ref(),
                StatusCode::OK,
            )
        }
        Err(error) => failure(&gateway, &submission, step, error),
    }
}

/// `POST /sign_in/code`: verifies the code, sets the session cookie and redirects.
#[tracing::instrument(name = "sign_in_code", skip_all, fields(client = %ip))]
pub async fn submit_code(
    State(gateway): State<Gateway>,
    ClientIp(ip): ClientIp,
    request: Request,
) -> Response {
    let mut submission = match accept_form(&gateway, request).await {
        Ok(submission) => submission,
        Err(response) => return response,
    };
    // People copy codes as "123 456" or "123-456".
    let code: String = submission
        .fields
        .take("code")
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    let transaction_id = submission.fields.get("transaction").to_string();
    // The channel only picks the wording of the page shown again after a wrong code.
    let channel = Channel::from_name(submission.fields.get("channel")).unwrap_or(Channel::Sms);

    match login::verify(&gateway, ip, &transaction_id, Secret::new(code)).await {
        Ok(session) => signed_in(&gateway, &session, &submission.rd),
        Err(error) => {
            let step = Step::Code {
                transaction_id: &transaction_id,
                channel,
            };
            failure(&gateway, &submission, step, error)
        }
    }
}

/// Checks the origin, reads the form and checks its CSRF token.
async fn accept_form(gateway: &Gateway, request: Request) -> Result<Submission, Response> {
    let config = &gateway.config;
    let prefix = prefix(gateway);
    if guard::is_cross_site(&request, config) {
        log_refused(StatusCode::FORBIDDEN, "cross_site_request");
        return Err(message(
            StatusCode::FORBIDDEN,
            prefix,
            "/",
            "Sign-in failed",
            "This form was sent from another site, so it was not accepted. Open the sign-in page directly and try again.",
        ));
    }
    let cookie = guard::csrf_cookie(request.headers(), config);
    let fields = match FormFields::read(request, config.server.max_body_bytes).await {
        Ok(fields) => fields,
        Err(error) => {
            let (status, code, text) = match error {
                FormError::UnsupportedMediaType => (
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "The form was not sent as application/x-www-form-urlencoded.",
                ),
                FormError::TooLarge => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "The form is larger than this gateway accepts.",
                ),
                FormError::Unreadable => (
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The form could not be read.",
                ),
            };
            log_refused(status, code);
            return Err(message(status, prefix, "/", "Sign-in failed", text));
        }
    };
    let rd = safe_return_path(fields.get("rd")).to_string();
    let token_ok = cookie.as_ref().is_some_and(|cookie| {
        guard::form_token_matches(cookie, fields.get("transaction"), fields.get("csrf_token"))
    });
    let Some(cookie) = cookie.filter(|_| token_ok) else {
        log_refused(StatusCode::FORBIDDEN, "invalid_csrf_token");
        return Err(message(
            StatusCode::FORBIDDEN,
            prefix,
            &rd,
            "Sign-in failed",
            "This form has expired or your browser did not send its sign-in cookie. Start again, and allow cookies for this site.",
        ));
    };
    Ok(Submission { fields, cookie, rd })
}

/// Shows the page of `step` again, or the password page, with what went wrong.
fn failure(gateway: &Gateway, submission: &Submission, step: Step, error: LoginError) -> Response {
    use LoginError::*;

    let expired = |text: &str| (Step::Password { username: "" }, text.to_string());
    let (page, text, retry_after) = match &error {
        InvalidInput(_) => {
            let text = match step {
                Step::Password { .. } => "Enter your username and password.",
                Step::Channel { .. } => "Choose one of the offered ways to receive a code.",
                Step::Code { .. } => "Enter the code from the text message or call: 4 to 10 digits.",
            };
            (step, text.to_string(), None)
        }
        InvalidCredentials => (
            step,
            "The username or password is incorrect, or the account cannot sign in.".to_string(),
            None,
        ),
        MfaNotSatisfied => (
            Step::Password { username: "" },
            "Your sign-in did not include a phone code, which this site requires. Ask your administrator to enable SMS or voice verification for your account.".to_string(),
            None,
        ),
        TransactionNotFound | TransactionEnded(Ended::Expired) => {
            let (page, text) = expired("Your sign-in expired. Sign in again.");
            (page, text, None)
        }
        TransactionEnded(Ended::AttemptsExhausted) | InvalidCode { attempts_remaining: 0 } => {
            let (page, text) = expired("Too many incorrect codes. Sign in again.");
            (page, text, None)
        }
        TransactionEnded(Ended::Completed) => {
            let (page, text) = expired("This sign-in is already complete. Sign in again if needed.");
            (page, text, None)
        }
        InvalidCode { attempts_remaining } => {
            let plural = if *attempts_remaining == 1 { "" } else { "s" };
            let text = format!(
                "The code is incorrect. {attempts_remaining} attempt{plural} remaining."
            );
            (step, text, None)
        }
        ChallengeRequired => (
            channel_step(&step),
            "Choose how to receive your code first.".to_string(),
            None,
        ),
        ChannelNotOffered(channel) | ChallengeRefused(channel) => {
            let how = match channel {
                Channel::Sms => "text message",
                Channel::Voice => "phone call",
            };
            let text = format!("A code cannot be sent to your account by {how}. Choose another way, or start again.");
            (channel_step(&step), text, None)
        }
        RateLimited { retry_after, .. } | IdpRateLimited { retry_after } => {
            let seconds = retry_after_secs(*retry_after);
            let text = format!("Too many attempts. Try again in {seconds} seconds.");
            (step, text, Some(seconds))
        }
        SendBudget { retry_after } => {
            let seconds = retry_after_secs(*retry_after);
            let text = format!("Too many codes were sent recently. Try again in {seconds} seconds.");
            (step, text, Some(seconds))
        }
        IdpUnavailable => (
            step,
            "The sign-in service is unavailable. Try again in a moment.".to_string(),
            None,
        ),
        Misconfigured => {
            let api_error = ApiError::from(error);
            super::login::log_rejection(&api_error);
            return message(
                api_error.status,
                prefix(gateway),
                &submission.rd,
                "Sign-in is not working",
                "The gateway could not complete the sign-in because of a configuration problem. Contact your administrator.",
            );
        }
    };

    let api_error = ApiError::from(error);
    super::login::log_rejection(&api_error);
    let notice = Notice::Error(text);
    let mut response = render_step(gateway, submission, page, &notice, api_error.status);
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// Returns the channel step of the transaction that `step` belongs to.
fn channel_step<'a>(step: &Step<'a>) -> Step<'a> {
    match step {
        Step::Password { .. } => Step::Password { username: "" },
        Step::Channel { transaction_id } | Step::Code { transaction_id, .. } => {
            Step::Channel { transaction_id }
        }
    }
}

fn render_step(
    gateway: &Gateway,
    submission: &Submission,
    step: Step,
    notice: &Notice,
    status: StatusCode,
) -> Response {
    match step {
        Step::Password { username } => {
            let token = guard::form_token(&submission.cookie, "");
            let form = form_context(gateway, submission, &token);
            let body = pages::password_page(&form, username, Some(notice));
            pages::html_response(status, "Sign in", &body)
        }
        Step::Channel { transaction_id } => {
            let token = guard::form_token(&submission.cookie, transaction_id);
            let form = form_context(gateway, submission, &token);
            let channels = &gateway.config.login.channels;
            let body = pages::channel_page(&form, transaction_id, channels, Some(notice));
            pages::html_response(status, "Verify it is you", &body)
        }
        Step::Code {
            transaction_id,
            channel,
        } => render_code_page(
            gateway,
            submission,
            transaction_id,
            channel,
            Some(notice),
            status,
        ),
    }
}

fn render_code_page(
    gateway: &Gateway,
    submission: &Submission,
    transaction_id: &str,
    channel: Channel,
    notice: Option<&Notice>,
    status: StatusCode,
) -> Response {
    let token = guard::form_token(&submission.cookie, transaction_id);
    let form = form_context(gateway, submission, &token);
    let channels = &gateway.config.login.channels;
    let body = pages::code_page(&form, transaction_id, channel, channels, notice);
    pages::html_response(status, "Enter your code", &body)
}

/// Redirects (`303`) to `rd` with the new session's cookie, built as `POST /verify`
/// builds it.
fn signed_in(gateway: &Gateway, session: &NewSession, rd: &str) -> Response {
    let cookie = super::login::session_cookie(gateway, &session.session_id);
    let (Ok(cookie), Ok(location)) = (HeaderValue::from_str(&cookie), HeaderValue::from_str(rd))
    else {
        // The cookie name is validated at startup, the id is base64url and `rd` passed
        // `safe_return_path`, so this cannot happen.
        tracing::error!("failed to build the sign-in redirect");
        return ApiError::internal().into_response();
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    headers.insert(header::SET_COOKIE, cookie);
    pages::add_security_headers(headers);
    response
}

fn message(status: StatusCode, prefix: &str, rd: &str, title: &str, text: &str) -> Response {
    pages::html_response(status, title, &pages::message_page(prefix, rd, title, text))
}

fn form_context<'a>(
    gateway: &'a Gateway,
    submission: &'a Submission,
    token: &'a str,
) -> FormContext<'a> {
    FormContext {
        prefix: prefix(gateway),
        rd: &submission.rd,
        token,
    }
}

fn prefix(gateway: &Gateway) -> &str {
    gateway.config.server.prefix.trim_end_matches('/')
}

/// Logs a form refused before the login flow ran, by reason only.
fn log_refused(status: StatusCode, reason: &'static str) {
    tracing::info!(
        status = status.as_u16(),
        error = reason,
        request_id = RequestId::current().as_ref().map_or("-", RequestId::as_str),
        "sign-in form rejected"
    );
}
