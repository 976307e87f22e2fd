//! The audit log under real failures: a record the database refuses (SQLite's NOT NULL on a
//! NaN probability), a PostgreSQL server stopped and restarted under a stream of records,
//! and a shutdown whose flush cannot reach the database. Nothing answered is ever lost.

use std::time::{Duration, Instant};

use inference::audit::{AuditOptions, PredictionLog, PredictionRecord, RecordedDecision};
use sql_pool::DatabaseSettings;
use sqlx::Connection;

fn record(i: usize, probability: f64) -> PredictionRecord {
    PredictionRecord {
        id: format!("{:032x}", i + 1),
        at: String::new(),
        at_us: 1_700_000_000_000_000 + i as i64,
        username: "ada".into(),
        role: "clinician".into(),
        request_id: Some(format!("req-{i}")),
        patient_id: Some(i as u64),
        model_version: "3".into(),
        recordings: 23,
        seizure_probability: probability,
        prediction: probability >= 0.5,
        epileptic_recordings: vec![1, 2],
        kind: inference::audit::KIND_PREDICTION.into(),
        session_id: None,
        acknowledges: None,
        // Every other record carries its patient decision (a batch mixes both), with values
        // unlike the record's other numbers, so a swapped column would show.
        decision: i.is_multiple_of(2).then(|| RecordedDecision {
            rule: "positive_fraction".into(),
            score: 0.125 + i as f64 / 1024.0,
            threshold: 0.375,
            source: "override".into(),
        }),
    }
}

fn options(dir: &std::path::Path) -> AuditOptions {
    AuditOptions {
        spill_file: dir.join("spill.jsonl"),
        spill_after: Duration::from_millis(300),
    }
}

async fn count(url: &str, table: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&mut connection)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_record_the_database_refuses_is_set_aside_and_the_rest_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("predictions.db");
    let registry = prometheus::Registry::new();
    let log = PredictionLog::open(
        &DatabaseSettings::sqlite_file(&path),
        options(dir.path()),
        &registry,
    )
    .await
    .unwrap();
    for i in 0..3 {
        log.record(record(i, 0.25)).await.unwrap();
    }
    // SQLite stores NaN as NULL; the column is NOT NULL: the database refuses this one.
    log.record(record(3, f64::NAN)).await.unwrap();
    for i in 4..7 {
        log.record(record(i, 0.75)).await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(10), log.flush())
        .await
        .expect("the writer is not stuck on the refused record")
        .unwrap();
    let page = log.page(50, None).await.unwrap();
    assert_eq!(page.records.len(), 6, "every other record is written");
    // Each record reads back as written, its patient decision included (or its absence).
    for written in &page.records {
        let i = usize::from_str_radix(&written.id, 16).unwrap() - 1;
        let sent = record(i, written.seizure_probability);
        assert_eq!(written.decision, sent.decision, "record {i}");
    }
    assert!(page.records.iter().any(|r| r.decision.is_some()));
    assert!(page.records.iter().any(|r| r.decision.is_none()));
    let url = format!("sqlite://{}", path.display());
    assert_eq!(count(&url, "prediction_log_rejected").await, 1);
    let mut connection = sqlx::AnyConnection::connect(&url).await.unwrap();
    let reason: String = sqlx::query_scalar("SELECT reason FROM prediction_log_rejected")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert!(reason.contains("NOT NULL"), "{reason}");
    let health = log.health();
    assert!(health.healthy, "{health:?}");
    assert_eq!((health.rejected, health.backlog), (1, 0));
    // Later records are still written.
    log.record(record(7, 0.1)).await.unwrap();
    log.flush().await.unwrap();
    assert_eq!(log.page(50, None).await.unwrap().records.len(), 7);
    let metrics = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    assert!(
        metrics.contains("audit_rejected_records_total 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_under_a_stream_of_records_loses_nothing() {
    let Some(server) = test_support::OwnPostgres::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let registry = prometheus::Registry::new();
    let log = PredictionLog::open(
        &DatabaseSettings::new(server.url()),
        options(dir.path()),
        &registry,
    )
    .await
    .unwrap();
    let mut slowest = Duration::ZERO;
    // Stopping and starting the server blocks this thread, not the writer's.
    for i in 0..300 {
        if i == 100 {
            tokio::task::block_in_place(|| server.pause());
        }
        if i == 250 {
            tokio::task::block_in_place(|| server.resume());
        }
        let started = Instant::now();
        log.record(record(i, 0.3)).await.unwrap();
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        slowest < Duration::from_secs(1),
        "recording waited {slowest:?} during the outage"
    );
    // Everything reaches the database once it is back: spilled records included.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        log.flush().await.unwrap();
        let health = log.health();
        if health.spill_pending == 0 && count(&server.url(), "prediction_log").await == 300 {
            break;
        }
        assert!(Instant::now() < deadline, "not all written: {health:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        count(&server.url(), "prediction_log").await,
        300,
        "no duplicates"
    );
    let metrics = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    let spilled: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("audit_spilled_records_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(spilled > 0, "the outage really happened: {metrics}");
    assert!(
        !dir.path().join("spill.jsonl").exists(),
        "the spill file is written back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_shutdown_spills_and_the_next_start_writes_back() {
    let Some(server) = test_support::OwnPostgres::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // A writer that would wait 60 s before spilling: only the bounded shutdown spills here.
    let slow_to_spill = AuditOptions {
        spill_after: Duration::from_secs(60),
        ..options(dir.path())
    };
    let log = PredictionLog::open(
        &DatabaseSettings::new(server.url()),
        slow_to_spill,
        &prometheus::Registry::new(),
    )
    .await
    .unwrap();
    log.record(record(0, 0.2)).await.unwrap();
    log.flush().await.unwrap();
    tokio::task::block_in_place(|| server.pause());
    for i in 1..21 {
        log.record(record(i, 0.2)).await.unwrap();
    }
    let started = Instant::now();
    log.close(Duration::from_millis(500)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "shutdown took {:?}",
        started.elapsed()
    );
    let spill = dir.path().join("spill.jsonl");
    let spilled = std::fs::read_to_string(&spill).unwrap();
    assert_eq!(spilled.lines().count(), 20, "{spilled}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&spill).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    drop(log);
    tokio::task::block_in_place(|| server.resume());
    let reopened = PredictionLog::open(
        &DatabaseSettings::new(server.url()),
        options(dir.path()),
        &prometheus::Registry::new(),
    )
    .await
    .unwrap();
    assert_eq!(count(&server.url(), "prediction_log").await, 21);
    assert!(!spill.exists());
    let page = reopened.page(50, None).await.unwrap();
    assert_eq!(page.records.len(), 21);
    // Spilled and written back to PostgreSQL, each keeps its patient decision (or none).
    for written in &page.records {
        let i = usize::from_str_radix(&written.id, 16).unwrap() - 1;
        assert_eq!(written.decision, record(i, 0.2).decision, "record {i}");
    }
    assert!(page
        .records
        .iter()
        .all(|r| r.username == "ada" && r.recordings == 23));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_starts_while_postgres_is_down_and_catches_up_when_it_answers() {
    let Some(server) = test_support::OwnPostgres::start() else {
        return;
    };
    // A server that has never seen the service: the migrations have not run.
    tokio::task::block_in_place(|| server.pause());
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let log = PredictionLog::open(
        &DatabaseSettings::new(server.url()),
        options(dir.path()),
        &prometheus::Registry::new(),
    )
    .await
    .expect("the log opens without its database");
    assert!(started.elapsed() < Duration::from_secs(20));
    let health = log.health();
    assert!(!health.healthy && health.durable, "{health:?}");
    for i in 0..40 {
        log.record(record(i, 0.4)).await.unwrap();
    }
    log.flush().await.unwrap();
    assert_eq!(log.health().spill_pending, 40, "{:?}", log.health());
    tokio::task::block_in_place(|| server.resume());
    // No new traffic: the writer's probe finds the server, migrates and writes back.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let health = log.health();
        if health.healthy && health.spill_pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "never caught up: {health:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(count(&server.url(), "prediction_log").await, 40);
    assert_eq!(log.page(100, None).await.unwrap().records.len(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_and_the_spill_file_both_failing_the_log_is_not_durable() {
    let Some(server) = test_support::OwnPostgres::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The spill "file" is a directory: every append fails.
    let unwritable = AuditOptions {
        spill_file: dir.path().to_owned(),
        spill_after: Duration::from_millis(300),
    };
    let registry = prometheus::Registry::new();
    let log = PredictionLog::open(&DatabaseSettings::new(server.url()), unwritable, &registry)
        .await
        .unwrap();
    tokio::task::block_in_place(|| server.pause());
    log.record(record(0, 0.4)).await.unwrap();
    log.flush().await.unwrap();
    let health = log.health();
    assert!(
        !health.durable && health.spill_error.is_some(),
        "{health:?}"
    );
    let metrics = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    assert!(metrics.contains("audit_lost_records_total 1"), "{metrics}");
    // Once the database answers again, records are durable again.
    tokio::task::block_in_place(|| server.resume());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log.health().durable {
        assert!(Instant::now() < deadline, "{:?}", log.health());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
