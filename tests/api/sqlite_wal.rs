//! The SQLite file's write-ahead log stays small under writes and returns
//! to (near) zero when idle. The 20-second, 64-connection figure is
//! `cargo bench --bench sqlite_wal`; this is the modest-count check.

use std::{
    path::PathBuf,
    rc::Rc,
    time::{Duration, Instant},
};

use serde_json::json;

use crate::helpers::spawn_app;

fn wal_bytes(wal: &PathBuf) -> u64 {
    std::fs::metadata(wal).map_or(0, |m| m.len())
}

async fn the_wal_stays_bounded_under_writes_and_empties_when_idle() {
    let app = Rc::new(spawn_app().await);
    app.logged_in_user("ada@example.com").await;
    let database = app.db_url.trim_start_matches("sqlite://");
    let wal = PathBuf::from(format!("{database}-wal"));

    // Inserts and rotations both use RETURNING, the writes SQLite's own
    // auto-checkpoint never sees.
    let load_for = Duration::from_secs(3);
    let start = Instant::now();
    let writers = (0..16).map(|i| {
        let app = app.clone();
        async move {
            let mut writes = 0u32;
            while start.elapsed() < load_for {
                let response = app
                    .post(
                        "/api/people",
                        json!({ "firstName": format!("P{i}"), "lastName": format!("{writes}") }),
                    )
                    .await;
                assert_eq!(response.status(), 201);
                writes += 1;
            }
            writes
        }
    });
    let sampler = async {
        let mut largest = 0;
        while start.elapsed() < load_for {
            largest = largest.max(wal_bytes(&wal));
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        largest
    };
    let (writes, largest) = futures::join!(futures::future::join_all(writers), sampler);
    let writes: u32 = writes.iter().sum();

    let idle = Instant::now();
    while wal_bytes(&wal) > 64 * 1024 && idle.elapsed() < Duration::from_secs(5) {
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let after_idle = wal_bytes(&wal);
    println!(
        "sqlite WAL: {writes} inserts in {load_for:?}, largest {largest} bytes, {after_idle} bytes after {:?} idle",
        idle.elapsed()
    );
    assert!(writes > 100, "the load ran: {writes} writes");
    assert!(largest < 64 * 1024 * 1024, "largest WAL {largest} bytes");
    assert!(
        after_idle <= 64 * 1024,
        "WAL still {after_idle} bytes when idle"
    );
}

crate::tests![
    ;
    sqlite_only: the_wal_stays_bounded_under_writes_and_empties_when_idle,
];
