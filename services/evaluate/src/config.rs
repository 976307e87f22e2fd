//! The command line: `evaluate run` (score, then promote a better candidate) and
//! `evaluate rollback`.

use std::path::PathBuf;

use anyhow::bail;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};

use crate::promotion::{Force, PrimaryMetric, PromotionPolicy, QualityFloor};
use crate::registry::{self, RegistryArgs};

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
    /// Overrides the decision threshold of the model cards (each model is otherwise scored at
    /// the threshold training chose for it on validation, the one inference serves with).
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
    /// Checks the arguments; returns the forced promotion asked for (`--force`), by whom and
    /// why.
    pub(crate) fn force(&self) -> anyhow::Result<Option<Force>> {
        if self.threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
            bail!("--threshold must be between 0 and 1");
        }
        self.policy.policy().check()?;
        Ok(match (self.force, &self.force_reason) {
            (true, Some(reason)) if !reason.trim().is_empty() => Some(Force {
                by: registry::actor(),
                reason: reason.trim().to_owned(),
            }),
            (true, _) => bail!("--force needs a non-empty --force-reason"),
            _ => None,
        })
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
}
