//! Integration tests: the real server over HTTP, against real PostgreSQL.
mod auth_tokens;
mod cli;
mod cors;
mod health;
mod helpers;
mod input;
mod login;
mod logout;
mod logs;
mod people;
mod refresh;
mod signup;
mod static_page;
mod throttle;
