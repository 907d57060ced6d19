//! Operator commands. The first admin is made here, not by hand in SQL.
//! Passwords come from `BFF_USER_PASSWORD` or standard input, never argv
//! (argv is visible to every user of the machine through `ps`).

use std::io::BufRead;

use actix_web::error::BlockingError;
use chrono::{NaiveDateTime, Utc};
use diesel::{QueryResult, result::Error::NotFound};

use crate::{
    accounts::{PasswordError, PasswordHasher, Role},
    blocking,
    config::{RelaySigningKey, Settings},
    db::{
        self, DbConnection, DbPool, DbSetupError,
        models::{NewUser, User},
        users,
    },
    errors::is_unique_violation,
    session::store,
    validation::{normalize_email, signup_errors},
};

pub const USAGE: &str = "\
usage:
  bff-gateway [serve]                                   run the HTTP server
  bff-gateway create-user --email EMAIL [--role user|admin]
      password from BFF_USER_PASSWORD, else the first line of standard input
  bff-gateway set-role --email EMAIL --role user|admin
  bff-gateway revoke --email EMAIL          end the session; access tokens stop at once
  bff-gateway delete-user --email EMAIL     delete the account (and so its session)
  bff-gateway list-users [--role user|admin]
  bff-gateway generate-relay-key            print a new relay signing key (PKCS#8 PEM)
  bff-gateway help";

pub const PASSWORD_VAR: &str = "BFF_USER_PASSWORD";

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve,
    Help,
    CreateUser {
        email: String,
        role: Role,
    },
    SetRole {
        email: String,
        role: Role,
    },
    Revoke {
        email: String,
    },
    DeleteUser {
        email: String,
    },
    ListUsers {
        role: Option<Role>,
    },
    /// Needs no settings and no database: runs before either is read.
    GenerateRelayKey,
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let name = args.next();
    let mut email = None;
    let mut role = None;
    let rest: Vec<String> = args.collect();
    let mut i = 0;
    while i < rest.len() {
        let value = rest.get(i + 1).cloned();
        match rest[i].as_str() {
            "--email" => email = Some(value.ok_or("--email needs a value")?),
            "--role" => {
                let value = value.ok_or("--role needs a value")?;
                role = Some(
                    value
                        .parse::<Role>()
                        .map_err(|_| format!("unknown role `{value}` (user or admin)"))?,
                );
            }
            "--password" => {
                return Err(format!(
                    "passwords are never taken from the command line; set {PASSWORD_VAR} or pipe it on standard input"
                ));
            }
            other => return Err(format!("unexpected argument `{other}`")),
        }
        i += 2;
    }
    match name.as_deref() {
        None | Some("serve") if email.is_none() && role.is_none() => Ok(Command::Serve),
        Some("help" | "--help" | "-h") => Ok(Command::Help),
        Some("create-user") => Ok(Command::CreateUser {
            email: email.ok_or("create-user needs --email")?,
            role: role.unwrap_or(Role::User),
        }),
        Some("set-role") => Ok(Command::SetRole {
            email: email.ok_or("set-role needs --email")?,
            role: role.ok_or("set-role needs --role")?,
        }),
        Some("revoke") if role.is_none() => Ok(Command::Revoke {
            email: email.ok_or("revoke needs --email")?,
        }),
        Some("delete-user") if role.is_none() => Ok(Command::DeleteUser {
            email: email.ok_or("delete-user needs --email")?,
        }),
        Some("list-users") if email.is_none() => Ok(Command::ListUsers { role }),
        Some("generate-relay-key") if email.is_none() && role.is_none() => {
            Ok(Command::GenerateRelayKey)
        }
        Some("generate-relay-key") => Err("generate-relay-key takes no arguments".into()),
        Some(command @ ("revoke" | "delete-user")) => Err(format!("{command} takes no --role")),
        Some("list-users") => Err("list-users takes no --email".into()),
        Some(other) => Err(format!("unknown command `{other}`")),
        None => Err("unexpected arguments".into()),
    }
}

/// Why a command failed; `main` prints it with its causes.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Database(#[from] DbSetupError),
    #[error("{0}")]
    Invalid(String),
    #[error("a user with this email already exists")]
    EmailTaken,
    #[error("no user with this email")]
    NoSuchUser,
    #[error("cannot hash the password")]
    Password(#[from] PasswordError),
    #[error("database query failed")]
    Query(#[source] diesel::result::Error),
    #[error("no database connection")]
    Pool(#[from] r2d2::Error),
    #[error("cannot read the password from standard input")]
    Stdin(#[source] std::io::Error),
    #[error("the command was cancelled")]
    Blocking(#[from] BlockingError),
    #[error("cannot generate a random relay signing key")]
    Random(#[source] getrandom::Error),
    #[error("cannot encode the relay signing key")]
    KeyEncoding(#[source] ed25519_dalek::pkcs8::Error),
}

impl From<diesel::result::Error> for CliError {
    fn from(err: diesel::result::Error) -> Self {
        match err {
            diesel::result::Error::NotFound => CliError::NoSuchUser,
            e if is_unique_violation(&e) => CliError::EmailTaken,
            e => CliError::Query(e),
        }
    }
}

pub async fn run(command: Command, settings: Settings) -> Result<(), CliError> {
    let mut database = settings.database.clone();
    // One connection, opened when needed and never re-opened in the
    // background: a pool thread still inside libpq's connect when the
    // process exits races OpenSSL's exit-time cleanup and crashes.
    database.pool_size = 1;
    database.min_idle = 0;
    let pool =
        blocking::run(move || db::connect_and_migrate(&database).map_err(CliError::from)).await?;
    let now = Utc::now().naive_utc();
    let line = match command {
        Command::CreateUser { email, role } => {
            let password = read_password()?;
            let email = normalize_email(&email);
            let errors = signup_errors(Some(&email), Some(&password));
            if !errors.is_empty() {
                let text: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{} {}", e.field, e.message))
                    .collect();
                return Err(CliError::Invalid(text.join("; ")));
            }
            let password_settings = settings.passwords.clone();
            // Its dummy hash is a bcrypt run: off the async worker too.
            let hasher = blocking::run(move || {
                PasswordHasher::new(&password_settings).map_err(CliError::from)
            })
            .await?;
            let hash = hasher.hash(&password).await?;
            let user = query(&pool, move |conn| {
                let new_user = NewUser {
                    email: &email,
                    password_hash: &hash,
                    role: role.as_str(),
                };
                users::insert(conn, &new_user)
            })
            .await?;
            describe("created user", &user)
        }
        Command::SetRole { email, role } => {
            let email = normalize_email(&email);
            let user = query(&pool, move |conn| {
                users::set_role(conn, &email, role.as_str(), now)
            })
            .await?;
            describe("user", &user)
        }
        Command::Revoke { email } => {
            let email = normalize_email(&email);
            let user = query(&pool, move |conn| {
                let user = users::find_by_email(conn, &email)?.ok_or(NotFound)?;
                store::end_for_user(conn, user.id, user.session_version, now)?;
                Ok(user)
            })
            .await?;
            describe("revoked the session of user", &user)
        }
        Command::DeleteUser { email } => {
            let email = normalize_email(&email);
            let target = email.clone();
            let id = query(&pool, move |conn| {
                users::delete_by_email(conn, &target)?.ok_or(NotFound)
            })
            .await?;
            format!("deleted user id={id} email={email}")
        }
        Command::ListUsers { role } => {
            let listed =
                query(&pool, move |conn| users::list(conn, role.map(Role::as_str))).await?;
            let lines: Vec<String> = listed
                .iter()
                .map(|u| {
                    let session = match u.session_expires_at {
                        Some(at) if at > now => format!("until {}", utc(at)),
                        _ => "none".to_owned(),
                    };
                    format!(
                        "id={} email={} role={} created={} session={session}",
                        u.id,
                        u.email,
                        u.role,
                        utc(u.created_at)
                    )
                })
                .collect();
            format!("{} users\n{}", lines.len(), lines.join("\n"))
                .trim_end()
                .to_owned()
        }
        Command::Serve | Command::Help | Command::GenerateRelayKey => return Ok(()),
    };
    println!("{line}");
    Ok(())
}

/// A fresh relay signing key as PKCS#8 PEM, for `RELAY_SIGNING_KEY_FILE`.
pub fn generate_relay_key() -> Result<String, CliError> {
    RelaySigningKey::generate()
        .map_err(CliError::Random)?
        .to_pkcs8_pem()
        .map_err(CliError::KeyEncoding)
}

fn utc(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn describe(done: &str, user: &User) -> String {
    format!(
        "{done} id={} email={} role={}",
        user.id, user.email, user.role
    )
}

/// Diesel blocks: on the blocking pool, like every request does.
async fn query<T: Send + 'static>(
    pool: &DbPool,
    f: impl FnOnce(&mut DbConnection) -> QueryResult<T> + Send + 'static,
) -> Result<T, CliError> {
    let pool = pool.clone();
    blocking::run(move || {
        let mut conn = pool.get()?;
        Ok(f(&mut conn)?)
    })
    .await
}

fn read_password() -> Result<String, CliError> {
    if let Ok(password) = std::env::var(PASSWORD_VAR) {
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(CliError::Stdin)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Command, String> {
        parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn commands_parse() {
        assert_eq!(parse_str(""), Ok(Command::Serve));
        assert_eq!(parse_str("serve"), Ok(Command::Serve));
        assert_eq!(
            parse_str("create-user --email a@b.io --role admin"),
            Ok(Command::CreateUser {
                email: "a@b.io".into(),
                role: Role::Admin
            })
        );
        assert_eq!(
            parse_str("set-role --email a@b.io --role user"),
            Ok(Command::SetRole {
                email: "a@b.io".into(),
                role: Role::User
            })
        );
        assert!(parse_str("create-user").is_err());
        assert!(parse_str("set-role --email a@b.io").is_err());
        assert!(parse_str("create-user --email a@b.io --role root").is_err());
        assert!(parse_str("frobnicate").is_err());
        assert_eq!(
            parse_str("revoke --email a@b.io"),
            Ok(Command::Revoke {
                email: "a@b.io".into()
            })
        );
        assert_eq!(
            parse_str("delete-user --email a@b.io"),
            Ok(Command::DeleteUser {
                email: "a@b.io".into()
            })
        );
        assert_eq!(
            parse_str("list-users"),
            Ok(Command::ListUsers { role: None })
        );
        assert_eq!(
            parse_str("list-users --role admin"),
            Ok(Command::ListUsers {
                role: Some(Role::Admin)
            })
        );
        assert_eq!(
            parse_str("generate-relay-key"),
            Ok(Command::GenerateRelayKey)
        );
        for bad in [
            "generate-relay-key --email a@b.io",
            "generate-relay-key --role admin",
            "revoke",
            "delete-user",
            "revoke --email a@b.io --role admin",
            "list-users --email a@b.io",
            "list-users --role root",
        ] {
            assert!(parse_str(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_refused_on_the_command_line() {
        let err = parse_str("create-user --email a@b.io --password hunter22").unwrap_err();
        assert!(err.contains(PASSWORD_VAR));
    }
}
