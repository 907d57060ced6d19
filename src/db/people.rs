//! Repository functions for `people`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{
    DbConnection,
    models::{Person, PersonFields},
    schema::people,
};

pub fn list(conn: &mut DbConnection, offset: i64, limit: i64) -> QueryResult<Vec<Person>> {
    people::table
        .order(people::id.asc())
        .offset(offset)
        .limit(limit)
        .load(conn)
}

pub fn find(conn: &mut DbConnection, id: i32) -> QueryResult<Person> {
    people::table.find(id).first(conn)
}

pub fn insert(conn: &mut DbConnection, fields: &PersonFields<'_>) -> QueryResult<Person> {
    diesel::insert_into(people::table)
        .values(fields)
        .get_result(conn)
}

pub fn update(
    conn: &mut DbConnection,
    id: i32,
    fields: &PersonFields<'_>,
    now: NaiveDateTime,
) -> QueryResult<Person> {
    diesel::update(people::table.find(id))
        .set((fields, people::updated_at.eq(now)))
        .get_result(conn)
}

pub fn delete(conn: &mut DbConnection, id: i32) -> QueryResult<usize> {
    diesel::delete(people::table.find(id)).execute(conn)
}
