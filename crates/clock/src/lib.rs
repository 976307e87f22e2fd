//! The wall clock, read in one place: the Unix-time units the services record (token claims
//! in seconds, MLflow metrics in milliseconds, audit records in microseconds) and the RFC 3339
//! timestamps of model cards and releases. A clock before 1970 reads 0.

use time::OffsetDateTime;

fn since_epoch() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// Now, in whole seconds since the Unix epoch (JWT `iat`/`exp`).
pub fn now_seconds() -> u64 {
    since_epoch().as_secs()
}

/// Now, in milliseconds since the Unix epoch (MLflow timestamps).
pub fn now_ms() -> i64 {
    i64::try_from(since_epoch().as_millis()).unwrap_or(i64::MAX)
}

/// Now, in microseconds since the Unix epoch (audit records).
pub fn now_micros() -> i64 {
    i64::try_from(since_epoch().as_micros()).unwrap_or(i64::MAX)
}

/// Now, UTC, RFC 3339: the timestamp format of model cards, releases and audit records.
pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

/// `at` in RFC 3339.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 formats every OffsetDateTime with a four-digit year")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_units_agree() {
        let seconds = now_seconds() as i64;
        let ms = now_ms();
        let micros = now_micros();
        assert!((ms / 1000 - seconds).abs() <= 1, "{ms} ms vs {seconds} s");
        assert!((micros / 1000 - ms).abs() <= 1000, "{micros} µs vs {ms} ms");
        assert!(seconds > 1_700_000_000, "a clock after 2023: {seconds}");
    }

    #[test]
    fn rfc3339_parses_back_to_the_same_second() {
        let text = now_rfc3339();
        let parsed = OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
            .expect("parses");
        assert!(
            (parsed.unix_timestamp() - now_seconds() as i64).abs() <= 1,
            "{text}"
        );
        assert_eq!(rfc3339(OffsetDateTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
