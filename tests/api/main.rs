//! Integration tests: the real server over HTTP, against a real database.
//!
//! Every test runs twice, once per backend: `sqlite::<module>::<test>` on a
//! fresh SQLite file and `postgres::<module>::<test>` on a fresh PostgreSQL
//! database. When PostgreSQL is unreachable its half is skipped (reported as
//! ignored, with a notice) unless `TEST_REQUIRE_POSTGRES=1`, which `.ci/run`
//! sets so that CI fails instead.
//!
//! A custom harness (libtest-mimic) because the list of tests is decided at
//! run time; the command-line interface is libtest's, so `cargo test <filter>`
//! and cargo-nextest work as usual.

mod auth_tokens;
mod bcrypt_fairness;
mod binary;
mod cli;
mod cookie_tossing;
mod cors;
mod csrf;
mod db_faults;
mod edge;
mod example_upstream;
mod fleet;
mod harness;
mod headers;
mod health;
mod helpers;
mod input;
mod jwks;
mod key_rotation;
mod login;
mod logout;
mod logs;
mod metrics;
mod openapi;
mod password_upgrade;
mod people;
mod pg_cluster;
mod refresh;
mod relay;
mod relay_tls;
mod request_id;
mod sessions;
mod signup;
mod sqlite_wal;
mod startup;
mod static_page;
mod throttle;

fn main() -> std::process::ExitCode {
    harness::main(&[
        auth_tokens::tests,
        bcrypt_fairness::tests,
        cli::tests,
        cookie_tossing::tests,
        cors::tests,
        csrf::tests,
        db_faults::tests,
        fleet::tests,
        edge::tests,
        example_upstream::tests,
        headers::tests,
        health::tests,
        input::tests,
        jwks::tests,
        key_rotation::tests,
        login::tests,
        logout::tests,
        logs::tests,
        openapi::tests,
        metrics::tests,
        password_upgrade::tests,
        people::tests,
        refresh::tests,
        relay::tests,
        relay_tls::tests,
        request_id::tests,
        sessions::tests,
        signup::tests,
        sqlite_wal::tests,
        startup::tests,
        static_page::tests,
        throttle::tests,
    ])
}
