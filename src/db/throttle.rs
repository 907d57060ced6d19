//! Storage of the throttle budgets shared by every instance
//! (`throttle_buckets`; the policy is src/throttle.rs). Every change is a
//! compare-and-swap on the row's `version`, so concurrent instances never
//! lose each other's charges, without transactions and without
//! `ON CONFLICT` (which `MultiConnection` lacks).

use chrono::NaiveDateTime;
use diesel::{
    prelude::*,
    result::{DatabaseErrorKind, Error as DieselError},
};

use super::{DbConnection, schema::throttle_buckets};
use crate::errors::AppError;

/// How often a change is retried after losing a race to another writer of
/// the same key, before the request gets a 503. Each try is one read and
/// one write, and the visit's deadline bounds them all anyway; at most
/// pool-size writers contend per instance, and each lost race means another
/// writer won.
const MAX_ATTEMPTS: usize = 64;

/// One key's budget as the policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// When the bucket is full again (GCRA); a past moment means full.
    pub full_at: NaiveDateTime,
    /// Reservations of attempts in flight, forgotten after `pending_until`.
    pub pending: u32,
    pub pending_until: NaiveDateTime,
}

impl Bucket {
    /// Nothing charged and nothing in flight: the same as no row at all.
    pub fn is_idle(&self, now: NaiveDateTime) -> bool {
        self.full_at <= now && (self.pending == 0 || self.pending_until <= now)
    }
}

/// A row as read, with the version a write must still find.
#[derive(Debug, Clone, Copy)]
pub struct Stored {
    bucket: Bucket,
    version: i32,
}

impl Stored {
    pub fn bucket(&self) -> Bucket {
        self.bucket
    }
}

pub fn read(conn: &mut DbConnection, key: &str) -> QueryResult<Option<Stored>> {
    let row: Option<(NaiveDateTime, i32, NaiveDateTime, i32)> = throttle_buckets::table
        .find(key)
        .select((
            throttle_buckets::full_at,
            throttle_buckets::pending,
            throttle_buckets::pending_until,
            throttle_buckets::version,
        ))
        .first(conn)
        .optional()?;
    Ok(
        row.map(|(full_at, pending, pending_until, version)| Stored {
            bucket: Bucket {
                full_at,
                pending: u32::try_from(pending).unwrap_or(0),
                pending_until,
            },
            version,
        }),
    )
}

/// Applies `decide` to the key's bucket (`seen`, as last read) and stores
/// the new bucket it returns, if any; when another writer changed the row
/// first, reads it again and decides again. An idle bucket is deleted
/// rather than stored. Returns what `decide` said last.
pub fn update<T>(
    conn: &mut DbConnection,
    key: &str,
    mut seen: Option<Stored>,
    now: NaiveDateTime,
    mut decide: impl FnMut(Option<Bucket>) -> (T, Option<Bucket>),
) -> Result<T, AppError> {
    for _ in 0..MAX_ATTEMPTS {
        let (answer, new) = decide(seen.map(|s| s.bucket));
        let Some(new) = new else {
            return Ok(answer);
        };
        if write(conn, key, seen, new, now)? {
            return Ok(answer);
        }
        seen = read(conn, key)?;
    }
    Err(AppError::unavailable(LostRaces(MAX_ATTEMPTS)))
}

#[derive(Debug, thiserror::Error)]
#[error("the throttle bucket kept changing under {0} attempts to update it")]
pub struct LostRaces(usize);

/// Stores `new` if the row is still as `seen`; false when it is not.
fn write(
    conn: &mut DbConnection,
    key: &str,
    seen: Option<Stored>,
    new: Bucket,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    use throttle_buckets::dsl as t;
    let pending = i32::try_from(new.pending).unwrap_or(i32::MAX);
    match seen {
        Some(seen) => {
            let row = t::throttle_buckets
                .filter(t::bucket_key.eq(key))
                .filter(t::version.eq(seen.version));
            let changed = if new.is_idle(now) {
                diesel::delete(row).execute(conn)?
            } else {
                diesel::update(row)
                    .set((
                        t::full_at.eq(new.full_at),
                        t::pending.eq(pending),
                        t::pending_until.eq(new.pending_until),
                        t::version.eq(seen.version.wrapping_add(1)),
                    ))
                    .execute(conn)?
            };
            Ok(changed == 1)
        }
        None if new.is_idle(now) => Ok(true),
        None => {
            let inserted = diesel::insert_into(t::throttle_buckets)
                .values((
                    t::bucket_key.eq(key),
                    t::full_at.eq(new.full_at),
                    t::pending.eq(pending),
                    t::pending_until.eq(new.pending_until),
                    t::version.eq(0),
                ))
                .execute(conn);
            match inserted {
                Ok(_) => Ok(true),
                // Another instance inserted it first: read it and decide again.
                Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
                Err(err) => Err(err),
            }
        }
    }
}

/// Deletes every idle bucket, so the table holds only keys with failures
/// still counted or attempts in flight.
pub fn sweep(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    use throttle_buckets::dsl as t;
    diesel::delete(
        t::throttle_buckets
            .filter(t::full_at.le(now))
            .filter(t::pending.eq(0).or(t::pending_until.le(now))),
    )
    .execute(conn)
}

/// How many buckets are stored (the size bound's tests).
pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
    throttle_buckets::table.count().get_result(conn)
}
