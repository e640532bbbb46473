//! portcullis: an authenticating reverse proxy that puts password + phone MFA (SMS or
//! voice, through Okta's Direct Authentication APIs) in front of services that cannot do
//! it themselves.

pub mod auth;
pub mod config;
pub mod echo;
pub mod emulator;
pub mod error;
pub mod gateway;
pub mod metrics;
pub mod okta;
pub mod proxy;
pub mod routes;
pub mod secret;
pub mod server;
pub mod session;
pub mod shutdown;
pub mod telemetry;
