use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{people, users};

/// A user row. No `Debug`: it holds the password hash.
#[derive(Queryable, Clone)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i32,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub refresh_token_hash: Option<String>,
    pub refresh_token_expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub refresh_family: Option<String>,
    pub previous_refresh_token_hash: Option<String>,
    pub refresh_token_rotated_at: Option<NaiveDateTime>,
    pub session_version: i32,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
}

#[derive(Queryable, Debug, Clone, PartialEq, Eq)]
#[diesel(table_name = people)]
pub struct Person {
    pub id: i32,
    pub first_name: String,
    pub last_name: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = people)]
pub struct PersonFields<'a> {
    pub first_name: &'a str,
    pub last_name: &'a str,
}
