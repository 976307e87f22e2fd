//! What `seizure-ops tune` is asked: how many trials, the time budget, the parallelism, the
//! sampler's seed and when pruning starts.

use clap::Args;

use crate::fanout::FanoutArgs;

#[derive(Debug, Clone, Args)]
pub struct TuneArgs {
    /// Configurations to draw and train (random search).
    #[arg(long, default_value_t = 12)]
    pub trials: usize,
    /// No trial starts after this many minutes; a running one stops at its next epoch.
    #[arg(long, default_value_t = 60.0)]
    pub budget_minutes: f64,
    /// Trials trained at the same time, each on one core. Unset: the machine's cores. With
    /// more than one, trials share burn's global random generator, so a trial's weights are
    /// reproducible only with `--parallel 1`.
    #[arg(long)]
    pub parallel: Option<usize>,
    /// Seed of the sampler: the same seed draws the same configurations.
    #[arg(long = "tune-seed", default_value_t = 7)]
    pub seed: u64,
    /// Median pruning starts at this epoch (1-based), once two other trials have reached it.
    #[arg(long, default_value_t = 4)]
    pub prune_warmup: usize,
    /// Run only this trial (0-based, as Kubernetes' `JOB_COMPLETION_INDEX`) of the `--trials`
    /// drawn from `--tune-seed`, as a member of `--group` ([`crate::fanout`]); not pruned (the
    /// other trials' curves are elsewhere). `--gather` collects the group.
    #[arg(long, requires = "group", conflicts_with = "gather")]
    pub trial: Option<usize>,
    #[command(flatten)]
    pub fanout: FanoutArgs,
}

impl TuneArgs {
    /// Checks the arguments; returns the trials run at a time (`--parallel`, else `cores`,
    /// at most `--trials`).
    pub(super) fn validate(&self, cores: usize) -> anyhow::Result<usize> {
        if !(1..=1000).contains(&self.trials) {
            anyhow::bail!("--trials must be between 1 and 1000");
        }
        // A week at most: beyond it the deadline would overflow the clock.
        if !(self.budget_minutes.is_finite() && self.budget_minutes > 0.0)
            || self.budget_minutes > 7.0 * 24.0 * 60.0
        {
            anyhow::bail!("--budget-minutes must be a positive number of minutes, at most a week");
        }
        let parallel = self.parallel.unwrap_or(cores).min(self.trials);
        if !(1..=64).contains(&parallel) {
            anyhow::bail!("--parallel must be between 1 and 64");
        }
        Ok(parallel)
    }
}
