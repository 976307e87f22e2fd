//! The skip policy: a test whose tool or data is missing may skip only when run by hand, and
//! says so loudly; under CI (`CI` set) it fails instead.

/// True under CI, where a missing tool or data file is a failure rather than a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Reports a skipped test so that it cannot pass for a run: panics under CI; otherwise writes
/// straight to the process's stderr (libtest captures `eprintln!`, which a passing test never
/// shows, but not direct writes), naming the test, and appends a line to the file named by
/// `SEIZURE_OPS_SKIP_LOG` (set by `scripts/test.sh`, which counts and lists the skips at the
/// end of the run).
pub fn skip(reason: &str) {
    use std::io::Write as _;
    assert!(!in_ci(), "{reason}: required under CI");
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED {test}: {reason} (./scripts/test.sh installs what the tests need)"
    );
    if let Ok(log) = std::env::var("SEIZURE_OPS_SKIP_LOG") {
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(file, "{test}: {reason}");
        }
    }
}
