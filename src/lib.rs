//! portcullis: an authenticating reverse proxy that puts password + phone MFA (SMS or
//! voice, through Okta's Direct Authentication APIs) in front of services that cannot do
//! it themselves.

pub mod auth;
pub mod client_ip;
pub mod config;
pub mod demo;
pub mod echo;
pub mod emulator;
pub mod error;
pub mod extract;
pub mod gateway;
pub mod login;
pub mod metrics;
pub mod okta;
pub mod proxy;
pub mod routes;
pub mod secret;
pub mod server;
pub mod session;
pub mod shutdown;
pub mod telemetry;
