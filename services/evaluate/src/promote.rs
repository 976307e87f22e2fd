//! Carrying out a promotion ([`crate::promotion`] decides it): the candidate's run registered
//! as a new version, checked to be the model evaluated, installed as production, and audited.

use anyhow::{bail, Context};
use seizure_model::Predictor;
use tracking::Tracker;

use crate::registry::{self, AuditRecord};
use crate::report::Report;
use crate::settings::EvaluateSettings;

/// Registers, checks, installs and audits the candidate.
pub(crate) fn promote(
    args: &EvaluateSettings,
    tracker: &dyn Tracker,
    candidate: &Predictor,
    report: &Report,
) -> anyhow::Result<AuditRecord> {
    let registry = &args.registry;
    let Some(run_id) = candidate.card().run_id.clone() else {
        bail!("the candidate's model card names no training run, so it cannot be registered");
    };
    let version = tracker
        .register_version(&registry.model_name, &run_id, "model")
        .with_context(|| {
            format!(
                "cannot register run {run_id} in the {} tracker",
                tracker.kind()
            )
        })?;
    // Install what the registry now holds, after checking it is the model just evaluated.
    let registered = tempfile::tempdir()?;
    tracker.download_version(&version, registered.path())?;
    let logged = seizure_model::artifact::read_card(registered.path())?;
    if logged.weights_md5 != candidate.card().weights_md5 {
        bail!(
            "{} is not the model run {run_id} logged (weights md5 {} here, {} in the run); \
             version {} was registered but not promoted",
            args.candidate.display(),
            candidate.card().weights_md5,
            logged.weights_md5,
            version.version
        );
    }
    let previous = report.production.as_ref().and_then(|p| p.version.clone());
    registry::install(registry, tracker, &version, |dir| {
        registry::copy_files(registered.path(), dir)
    })?;
    let record = AuditRecord {
        timestamp: registry::now_rfc3339(),
        action: "promote".into(),
        actor: registry::actor(),
        model_name: registry.model_name.clone(),
        from_version: previous,
        to_version: version.version.clone(),
        run_id,
        data_md5: Some(report.data_md5.clone()),
        primary_metric: Some(report.decision.primary_metric.into()),
        candidate_value: Some(report.decision.candidate_value),
        production_value: report.decision.production_value,
        reason: report.decision.reason.clone(),
        forced: report.decision.forced.is_some(),
        force_reason: report.decision.forced.as_ref().map(|f| f.reason.clone()),
    };
    registry::append_audit(&registry.audit_log, &record)?;
    Ok(record)
}
