//! The command line: `evaluate run` (score, then promote a better candidate) and
//! `evaluate rollback`, as flags with environment fallbacks, and their parsing into the
//! settings the library takes ([`EvaluateSettings`], [`RegistrySettings`]).

use std::path::PathBuf;

use anyhow::bail;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};

use service_flags::{DvcArgs, TrackingArgs};

use crate::promotion::{Force, PrimaryMetric, PromotionPolicy, QualityFloor};
use crate::registry::{self, RegistrySettings};
use crate::settings::{EvaluateSettings, Threshold};

#[derive(Debug, Parser)]
#[command(
    name = "evaluate",
    version,
    about = "Evaluates and promotes seizure models"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub log: service_flags::LogArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Score the candidate against production; promote it only if it is better.
    Run(EvaluateArgs),
    /// Move production back to the version it replaced.
    Rollback(RegistryArgs),
}

#[derive(Debug, Clone, Args)]
pub struct EvaluateArgs {
    /// The candidate model artifact (written by training).
    #[arg(long, env = "MODELS_DIR", default_value = "models")]
    pub candidate: PathBuf,
    /// The processed dataset whose test split is scored.
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data: PathBuf,
    /// Where metrics.json and the plots go (replaced atomically).
    #[arg(long, env = "REPORTS_DIR", default_value = "reports")]
    pub reports: PathBuf,
    /// The metric the candidate must beat production on.
    #[arg(long, env = "PRIMARY_METRIC", default_value = "roc-auc",
        value_parser = PossibleValuesParser::new(PrimaryMetric::ALL.map(PrimaryMetric::flag_name))
            .map(|name| name.parse::<PrimaryMetric>().expect("one of the possible values")))]
    pub primary_metric: PrimaryMetric,
    #[command(flatten)]
    pub policy: PromotionFlags,
    /// Overrides the window threshold of the model cards (each model is otherwise scored at the
    /// threshold training chose for it, out of fold, or on validation in an earlier card: the
    /// one inference serves with).
    #[arg(long, env = "DECISION_THRESHOLD")]
    pub threshold: Option<f64>,
    /// Promote even if the candidate is not shown better than production (never below the
    /// quality floor, never a non-finite model). Needs --force-reason; recorded as forced,
    /// with who (PROMOTED_BY) and why, in the audit log and the tracker.
    #[arg(long, requires = "force_reason")]
    pub force: bool,
    /// Why the promotion is forced (required with --force).
    #[arg(long, requires = "force")]
    pub force_reason: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl EvaluateArgs {
    /// The run these arguments ask for: the threshold, the policy and `--force` checked here,
    /// before any model or data are read; the error names the flag.
    pub fn settings(&self) -> anyhow::Result<EvaluateSettings> {
        let threshold = match self.threshold {
            None => None,
            Some(value) => Some(
                Threshold::try_new(value)
                    .map_err(|_| anyhow::anyhow!("--threshold must be between 0 and 1"))?,
            ),
        };
        let policy = self.policy.policy();
        policy.check()?;
        let force = match (self.force, &self.force_reason) {
            (true, Some(reason)) if !reason.trim().is_empty() => Some(Force {
                by: registry::actor(),
                reason: reason.trim().to_owned(),
            }),
            (true, _) => bail!("--force needs a non-empty --force-reason"),
            _ => None,
        };
        Ok(EvaluateSettings {
            candidate: self.candidate.clone(),
            data: self.data.clone(),
            reports: self.reports.clone(),
            primary_metric: self.primary_metric,
            policy,
            threshold,
            force,
            registry: self.registry.settings(),
        })
    }
}

/// Where the production model lives, as every registry command takes it.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// The production model directory that inference serves (replaced atomically;
    /// tracked by `<dir>.dvc`).
    #[arg(long, env = "PRODUCTION_DIR", default_value = "production")]
    pub production: PathBuf,
    /// Append-only log of promotions and rollbacks (JSON lines).
    #[arg(
        long,
        env = "PROMOTION_AUDIT_LOG",
        default_value = "audit/promotions.jsonl"
    )]
    pub audit_log: PathBuf,
    /// The registered model name.
    #[arg(long, env = "REGISTERED_MODEL_NAME", default_value = "seizure-lstm")]
    pub model_name: String,
    #[command(flatten)]
    pub tracking: TrackingArgs,
    #[command(flatten)]
    pub dvc: DvcArgs,
}

impl RegistryArgs {
    pub fn settings(&self) -> RegistrySettings {
        RegistrySettings {
            production: self.production.clone(),
            audit_log: self.audit_log.clone(),
            model_name: self.model_name.clone(),
            tracking: self.tracking.settings(),
            dvc: self.dvc.settings(),
        }
    }
}

const POLICY: PromotionPolicy = PromotionPolicy::DEFAULT;

/// The flags for a [`PromotionPolicy`] (defaults from there).
#[derive(Debug, Clone, Copy, PartialEq, Args)]
pub struct PromotionFlags {
    /// No model with a lower test ROC AUC reaches production.
    #[arg(long, env = "MIN_ROC_AUC", default_value_t = POLICY.floor.min_roc_auc)]
    pub min_roc_auc: f64,
    /// No model with a lower test sensitivity at the target specificity reaches production.
    #[arg(long, env = "MIN_SENSITIVITY", default_value_t = POLICY.floor.min_sensitivity)]
    pub min_sensitivity: f64,
    /// The specificity at which sensitivity is floored and reported.
    #[arg(long, env = "TARGET_SPECIFICITY", default_value_t = POLICY.floor.target_specificity)]
    pub target_specificity: f64,
    /// The candidate must beat production's primary metric by more than this (>= 0) at the
    /// confidence below.
    #[arg(long = "min-improvement", env = "PROMOTION_MARGIN", default_value_t = POLICY.min_improvement)]
    pub min_improvement: f64,
    /// One-sided confidence that the candidate is better by more than the margin; also the
    /// level of every reported interval.
    #[arg(long, env = "PROMOTION_CONFIDENCE", default_value_t = POLICY.confidence)]
    pub confidence: f64,
    /// Bootstrap draws (of whole segments) for the comparison and the intervals.
    #[arg(long, env = "BOOTSTRAP_RESAMPLES", default_value_t = POLICY.resamples)]
    pub resamples: usize,
    /// Seed of the draws: the same inputs always give the same decision.
    #[arg(long, env = "BOOTSTRAP_SEED", default_value_t = POLICY.seed)]
    pub seed: u64,
}

impl PromotionFlags {
    pub fn policy(&self) -> PromotionPolicy {
        PromotionPolicy {
            floor: QualityFloor {
                min_roc_auc: self.min_roc_auc,
                min_sensitivity: self.min_sensitivity,
                target_specificity: self.target_specificity,
            },
            min_improvement: self.min_improvement,
            confidence: self.confidence,
            resamples: self.resamples,
            seed: self.seed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_default_to_the_policys_defaults_and_every_metric_parses() {
        let cli = Cli::try_parse_from(["evaluate", "run"]).unwrap();
        let Command::Run(args) = cli.command else {
            panic!("run")
        };
        assert_eq!(args.policy.policy(), PromotionPolicy::DEFAULT);
        assert_eq!(args.primary_metric, PrimaryMetric::RocAuc);
        for metric in PrimaryMetric::ALL {
            let cli =
                Cli::try_parse_from(["evaluate", "run", "--primary-metric", metric.flag_name()])
                    .unwrap();
            let Command::Run(args) = cli.command else {
                panic!("run")
            };
            assert_eq!(args.primary_metric, metric);
        }
        assert!(Cli::try_parse_from(["evaluate", "run", "--primary-metric", "roc_auc"]).is_err());
    }

    fn settings(flags: &[&str]) -> anyhow::Result<EvaluateSettings> {
        let argv = ["evaluate", "run"].into_iter().chain(flags.iter().copied());
        let Command::Run(args) = Cli::try_parse_from(argv)?.command else {
            panic!("run")
        };
        args.settings()
    }

    #[test]
    fn the_settings_hold_the_flags_and_refuse_hostile_ones_naming_the_flag() {
        let parsed = settings(&["--threshold", "0.25"]).unwrap();
        assert_eq!(parsed.threshold.map(Threshold::into_inner), Some(0.25));
        assert_eq!(parsed.policy, PromotionPolicy::DEFAULT);
        assert!(parsed.force.is_none());
        let forced = settings(&["--force", "--force-reason", "  audited  "]).unwrap();
        assert_eq!(forced.force.unwrap().reason, "audited");
        for (flags, message) in [
            (
                &["--threshold", "NaN"][..],
                "--threshold must be between 0 and 1",
            ),
            (&["--threshold=-0.1"], "--threshold must be between 0 and 1"),
            (
                &["--threshold", "inf"],
                "--threshold must be between 0 and 1",
            ),
            (
                &["--force", "--force-reason", "   "],
                "--force needs a non-empty --force-reason",
            ),
            (&["--confidence", "1"], "--confidence must lie in (0.5, 1)"),
            (&["--resamples", "5"], "--resamples must be at least 100"),
        ] {
            let error = settings(flags)
                .err()
                .unwrap_or_else(|| panic!("{flags:?} parsed"));
            assert_eq!(error.to_string(), message, "{flags:?}");
        }
    }
}
