//! A file-descriptor budget per side when auth and inference share one process (`serve`,
//! `up`): each side's connections are capped so that both together, with inference's
//! monitoring sockets and a reserve for files and databases, fit the process's descriptor
//! limit. One side at its caps then cannot starve the other of descriptors (an attack once
//! filled the limit with sockets and both services stopped answering).

use anyhow::bail;

/// Descriptors kept for everything but client connections: listeners, database pools,
/// model and store files, logs, the audit spill file.
pub const RESERVE: usize = 256;

/// The soft limit on open files of this process (Linux `/proc/self/limits`).
pub fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The connection caps of (auth, inference) that fit `limit` descriptors with `sockets`
/// monitoring sockets: unchanged when they fit, else each side gets half of what is left.
pub fn split(
    limit: usize,
    sockets: usize,
    auth: usize,
    inference: usize,
) -> anyhow::Result<(usize, usize)> {
    let available = limit.saturating_sub(RESERVE + sockets);
    if auth + inference <= available {
        return Ok((auth, inference));
    }
    let each = available / 2;
    if each < 16 {
        bail!(
            "the process may open {limit} files (ulimit -n), too few for both services: \
             {RESERVE} are kept for files and databases and {sockets} for monitoring sockets \
             (MAX_MONITOR_SOCKETS); raise the limit or lower MAX_MONITOR_SOCKETS"
        );
    }
    Ok((auth.min(each), inference.min(each)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_keep_their_caps_when_they_fit() {
        assert_eq!(split(20_000, 128, 1024, 1024).unwrap(), (1024, 1024));
    }

    #[test]
    fn a_low_limit_is_shared_half_and_half() {
        // ulimit -n 1024: 1024 - 256 - 128 = 640 left, 320 a side.
        assert_eq!(split(1024, 128, 1024, 1024).unwrap(), (320, 320));
        assert_eq!(split(1024, 128, 100, 1024).unwrap(), (100, 320));
    }

    #[test]
    fn a_limit_too_low_for_both_is_refused_saying_why() {
        let error = split(300, 128, 1024, 1024).unwrap_err().to_string();
        assert!(error.contains("ulimit -n"), "{error}");
    }

    #[test]
    fn this_process_has_a_limit() {
        assert!(open_files_limit().is_some_and(|n| n > 0));
    }
}
