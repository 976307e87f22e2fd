//! The production model: what is installed in `production/`, the registry alias, and the
//! append-only audit log of every promotion and rollback (MLflow keeps no alias history).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use artifact_store::atomic;
use artifact_store::dvc::DvcPointer;
use seizure_model::Predictor;
use serde::{Deserialize, Serialize};
use stage_kit::{DvcSettings, TrackingSettings};
use tracking::{ModelVersion, Tracker, PRODUCTION_ALIAS};

/// Describes the registry version installed in `production/`, next to the artifact's files.
pub use seizure_model::release::{Release, RELEASE_FILE};

/// Where the production model lives and how it is registered, as every registry command
/// uses it (parsed from [`crate::config::RegistryArgs`]).
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// The production model directory that inference serves.
    pub production: PathBuf,
    /// The append-only log of promotions and rollbacks.
    pub audit_log: PathBuf,
    /// The registered model name.
    pub model_name: String,
    pub tracking: TrackingSettings,
    pub dvc: DvcSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub timestamp: String,
    /// "promote" or "rollback".
    pub action: String,
    pub actor: String,
    pub model_name: String,
    pub from_version: Option<String>,
    pub to_version: String,
    pub run_id: String,
    pub data_md5: Option<String>,
    pub primary_metric: Option<String>,
    pub candidate_value: Option<f64>,
    pub production_value: Option<f64>,
    pub reason: String,
    /// A promotion by `--force` (the comparison with production did not support it): who
    /// forced it is `actor`, why is `force_reason`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forced: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_reason: Option<String>,
}

pub use seizure_model::artifact::now_rfc3339;

/// Who is acting: `PROMOTED_BY`, else `USER@HOSTNAME`, else "evaluate".
pub fn actor() -> String {
    if let Ok(who) = std::env::var("PROMOTED_BY") {
        if !who.is_empty() {
            return who;
        }
    }
    let user = std::env::var("USER").unwrap_or_default();
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    match (user.is_empty(), host.trim().is_empty()) {
        (false, false) => format!("{user}@{}", host.trim()),
        (false, true) => user,
        _ => "evaluate".into(),
    }
}

/// The release installed in `production/`, if any.
pub fn installed_release(production: &Path) -> anyhow::Result<Option<Release>> {
    Ok(seizure_model::installed_release(production)?)
}

pub fn read_audit(path: &Path) -> anyhow::Result<Vec<AuditRecord>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .with_context(|| format!("{}:{}: invalid audit record", path.display(), i + 1))
        })
        .collect()
}

pub fn append_audit(path: &Path, record: &AuditRecord) -> anyhow::Result<()> {
    let mut text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    text.push_str(&serde_json::to_string(record)?);
    text.push('\n');
    atomic::write_file(path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The version production should go back to: the one the latest promotion to the current
/// version replaced.
pub fn rollback_target(audit: &[AuditRecord], current: &str) -> Option<String> {
    audit
        .iter()
        .rev()
        .find(|r| r.action == "promote" && r.to_version == current)
        .and_then(|r| r.from_version.clone())
}

/// Installs `version` as production: `fill` writes the artifact's files into a staging
/// directory, which must load as a valid model before it replaces `production/`; then the
/// alias moves and `production.dvc` is rewritten.
pub fn install(
    args: &RegistrySettings,
    tracker: &dyn Tracker,
    version: &ModelVersion,
    fill: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<Option<DvcPointer>> {
    let release = Release {
        model_name: version.name.clone(),
        version: version.version.clone(),
        run_id: version.run_id.clone(),
        source: version.source.clone(),
        installed_at: now_rfc3339(),
        installed_by: actor(),
        tracker: format!("{} {}", tracker.kind(), tracker.location()),
    };
    atomic::replace_dir(&args.production, |dir| -> anyhow::Result<()> {
        fill(dir)?;
        let predictor = Predictor::load(dir).context("the model to install does not load")?;
        // The same check as inference's /reload-model: what cannot serve is never installed.
        predictor
            .smoke_test()
            .map_err(|e| anyhow::anyhow!("the model to install fails its smoke test: {e}"))?;
        fs_err::write(dir.join(RELEASE_FILE), release.to_json())?;
        Ok(())
    })
    .with_context(|| format!("cannot install {}", args.production.display()))?;
    tracker.set_alias(&version.name, PRODUCTION_ALIAS, &version.version)?;
    Ok(args.dvc.track(&args.production)?)
}

/// Copies every file of `from` into `to`.
pub fn copy_files(from: &Path, to: &Path) -> anyhow::Result<()> {
    for (relpath, path) in artifact_store::dvc::list_files(from)? {
        let target = to.join(relpath);
        if let Some(parent) = target.parent() {
            fs_err::create_dir_all(parent)?;
        }
        std::fs::copy(&path, &target).with_context(|| format!("cannot copy {}", path.display()))?;
    }
    Ok(())
}

/// Moves production back to the version before the current one.
pub fn rollback(args: &RegistrySettings) -> anyhow::Result<AuditRecord> {
    let tracker = args.tracking.open()?;
    let current = match installed_release(&args.production)? {
        Some(release) => release.version,
        None => match tracker.alias(&args.model_name, PRODUCTION_ALIAS)? {
            Some(version) => version.version,
            None => bail!("there is no production model to roll back"),
        },
    };
    let audit = read_audit(&args.audit_log)?;
    let Some(target) = rollback_target(&audit, &current) else {
        bail!(
            "{}: no promotion to version {current} with an earlier version is recorded; \
             nothing to roll back to",
            args.audit_log.display()
        );
    };
    let version = tracker.model_version(&args.model_name, &target)?;
    install(args, tracker.as_ref(), &version, |dir| {
        Ok(tracker.download_version(&version, dir)?)
    })?;
    let record = AuditRecord {
        timestamp: now_rfc3339(),
        action: "rollback".into(),
        actor: actor(),
        model_name: args.model_name.clone(),
        from_version: Some(current),
        to_version: target,
        run_id: version.run_id.clone(),
        data_md5: None,
        primary_metric: None,
        candidate_value: None,
        production_value: None,
        reason: "rollback requested".into(),
        forced: false,
        force_reason: None,
    };
    append_audit(&args.audit_log, &record)?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(action: &str, from: Option<&str>, to: &str) -> AuditRecord {
        AuditRecord {
            timestamp: now_rfc3339(),
            action: action.into(),
            actor: "test".into(),
            model_name: "m".into(),
            from_version: from.map(String::from),
            to_version: to.into(),
            run_id: "r".into(),
            data_md5: None,
            primary_metric: None,
            candidate_value: None,
            production_value: None,
            reason: String::new(),
            forced: false,
            force_reason: None,
        }
    }

    #[test]
    fn rollback_follows_promotions_backwards() {
        let mut audit = vec![
            record("promote", None, "1"),
            record("promote", Some("1"), "2"),
            record("promote", Some("2"), "3"),
        ];
        assert_eq!(rollback_target(&audit, "3").as_deref(), Some("2"));
        audit.push(record("rollback", Some("3"), "2"));
        // A second rollback goes further back, not forward to 3.
        assert_eq!(rollback_target(&audit, "2").as_deref(), Some("1"));
        assert_eq!(rollback_target(&audit, "1"), None);
    }

    #[test]
    fn audit_log_appends_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit/promotions.jsonl");
        assert!(read_audit(&path).unwrap().is_empty());
        let first = record("promote", None, "1");
        let second = record("promote", Some("1"), "2");
        append_audit(&path, &first).unwrap();
        append_audit(&path, &second).unwrap();
        assert_eq!(read_audit(&path).unwrap(), [first, second]);
        std::fs::write(&path, "{broken\n").unwrap();
        let err = read_audit(&path).unwrap_err();
        assert!(format!("{err:#}").contains("promotions.jsonl:1: invalid audit record"));
    }
}
