//! What a training run records in the tracker: its params, every epoch's metrics, what was
//! chosen after training (temperature, threshold, out-of-fold decisions), the model and its
//! tags.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use eeg_data::processed::SplitArrays;
use seizure_model::temperature::TemperatureScaling;
use seizure_model::{DecisionThreshold, Decisions, ModelCard};
use tracking::{Metric, RunStatus, Tracker};

use crate::settings::TrainingSettings;
use crate::train::{EpochMetrics, TrainConfig};

/// Where the artifact goes inside the tracked run.
pub const ARTIFACT_PATH: &str = "model";

/// One run in a tracker.
pub(crate) struct RunLog<'a> {
    pub tracker: &'a dyn Tracker,
    pub run_id: String,
}

impl<'a> RunLog<'a> {
    /// Starts the run in `--experiment`.
    pub fn start(
        tracker: &'a dyn Tracker,
        args: &TrainingSettings,
        train_split: &SplitArrays,
        validation: &SplitArrays,
    ) -> anyhow::Result<Self> {
        let run = tracker
            .create_run(&args.tracking.experiment, "training")
            .with_context(|| format!("cannot start a run in the {} tracker", tracker.kind()))?;
        tracing::info!(
            tracker = tracker.kind(),
            location = %tracker.location(),
            run_id = %run.run_id,
            train_rows = train_split.rows(),
            validation_rows = validation.rows(),
            "training started"
        );
        Ok(Self {
            tracker,
            run_id: run.run_id,
        })
    }

    pub fn params(&self, params: &[(String, String)]) -> anyhow::Result<()> {
        Ok(self.tracker.log_params(&self.run_id, params)?)
    }

    /// An epoch's metrics; a failure is only warned of.
    pub fn epoch(&self, metrics: &EpochMetrics) {
        if let Err(e) = self
            .tracker
            .log_metrics(&self.run_id, &epoch_metrics(metrics))
        {
            tracing::warn!("cannot log epoch metrics: {e}");
        }
    }

    pub fn temperature(&self, scaling: Option<&TemperatureScaling>) -> anyhow::Result<()> {
        match scaling {
            Some(t) => {
                tracing::info!(
                    temperature = t.temperature,
                    nll_before = t.validation_nll_before,
                    nll_after = t.validation_nll_after,
                    "temperature scaling fitted on validation"
                );
                self.tracker.log_metrics(
                    &self.run_id,
                    &[
                        Metric::now("temperature", t.temperature, 0),
                        Metric::now("val_nll_calibrated", t.validation_nll_after, 0),
                    ],
                )?;
            }
            None => tracing::warn!("no temperature: the validation logits are not finite"),
        }
        Ok(())
    }

    pub fn threshold(&self, threshold: Option<&DecisionThreshold>) -> anyhow::Result<()> {
        match threshold {
            Some(chosen) => self.tracker.log_metrics(
                &self.run_id,
                &[
                    Metric::now("decision_threshold", chosen.value, 0),
                    Metric::now(
                        "val_specificity_at_threshold",
                        chosen.validation_specificity,
                        0,
                    ),
                    Metric::now(
                        "val_sensitivity_at_threshold",
                        chosen.validation_sensitivity,
                        0,
                    ),
                ],
            )?,
            None => tracing::warn!(
                "no decision threshold: the validation scores are not all finite (the training \
                 diverged); evaluation will refuse this model"
            ),
        }
        Ok(())
    }

    /// The out-of-fold decisions, chosen in `took`.
    pub fn decisions(&self, decisions: Option<&Decisions>, took: Duration) -> anyhow::Result<()> {
        match decisions {
            Some(d) => {
                let mut metrics = vec![
                    Metric::now("oof_window_threshold", d.window.threshold, 0),
                    Metric::now("oof_window_specificity", d.window.specificity.value, 0),
                    Metric::now("oof_window_sensitivity", d.window.sensitivity.value, 0),
                    Metric::now("oof_patient_threshold", d.patient.threshold, 0),
                    Metric::now("oof_patient_accuracy", d.patient.accuracy.value, 0),
                    Metric::now("oof_seconds", took.as_secs_f64(), 0),
                ];
                if let Some(a) = &d.alarm {
                    metrics.push(Metric::now(
                        "oof_false_alarms_per_hour",
                        a.false_alarms_per_hour,
                        0,
                    ));
                    metrics.push(Metric::now("oof_event_sensitivity", a.event_sensitivity, 0));
                }
                self.tracker.log_metrics(&self.run_id, &metrics)?;
            }
            None => tracing::warn!(
                "no out-of-fold decisions: a fold's scores are not all finite, or a class is \
                 missing; the validation threshold decides"
            ),
        }
        Ok(())
    }

    /// The model directory `out` as the run's model, and the run's tags.
    pub fn model(
        &self,
        out: &Path,
        saved: &ModelCard,
        data_md5: &str,
        pruned: bool,
    ) -> anyhow::Result<()> {
        self.tracker.log_model(&self.run_id, out, ARTIFACT_PATH)?;
        self.tracker.set_tags(
            &self.run_id,
            &[
                ("data_md5".into(), data_md5.to_owned()),
                ("weights_md5".into(), saved.weights_md5.clone()),
                ("pruned".into(), pruned.to_string()),
            ],
        )?;
        Ok(())
    }

    /// Closes the run; a failure is only warned of.
    pub fn finish<T>(&self, result: &anyhow::Result<T>) {
        if let Err(e) = self.tracker.finish_run(&self.run_id, RunStatus::of(result)) {
            tracing::warn!("cannot close run {}: {e}", self.run_id);
        }
    }
}

/// The run's params.
pub(crate) fn params(
    config: &TrainConfig,
    args: &TrainingSettings,
    train: &SplitArrays,
    validation: &SplitArrays,
    data_md5: &str,
    manifest: &eeg_data::processed::Manifest,
) -> Vec<(String, String)> {
    let model = &config.model;
    [
        ("epochs", config.epochs.to_string()),
        ("batch_size", config.batch_size.to_string()),
        ("learning_rate", config.learning_rate.to_string()),
        ("optimizer", "adam".into()),
        ("patience", config.patience.to_string()),
        ("seed", config.seed.to_string()),
        ("grad_shards", config.sharding.shards.to_string()),
        ("train_engine", config.engine.to_string()),
        ("train_threads", config.sharding.threads.to_string()),
        (
            "layout",
            format!("{}x{}", model.layout.timesteps, model.layout.features),
        ),
        ("front_end", model.front_end.name()),
        ("lstm1_hidden", model.lstm1_hidden.to_string()),
        ("lstm2_hidden", model.lstm2_hidden.to_string()),
        ("dropout", model.dropout.to_string()),
        ("dense_hidden", model.dense_hidden.to_string()),
        ("class_weights", format!("{:?}", config.class_weights)),
        ("balance", format!("{:?}", manifest.balance).to_lowercase()),
        ("windows", args.windows.name().to_owned()),
        ("augment_gain", args.augmentation.gain.to_string()),
        ("augment_noise", args.augmentation.noise.to_string()),
        (
            "centring",
            format!("{:?}", manifest.normalisation.centring).to_lowercase(),
        ),
        ("train_rows", train.rows().to_string()),
        ("validation_rows", validation.rows().to_string()),
        ("data_md5", data_md5.to_owned()),
        ("split_seed", manifest.seed.to_string()),
        // The raw CSV's md5 (also its key in the DVC remote, which preprocessing pushed it to):
        // `seizure-ops cv --source production` cross-validates on exactly these bytes.
        ("source_md5", manifest.source.md5.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn epoch_metrics(m: &EpochMetrics) -> Vec<Metric> {
    let step = m.epoch as i64;
    vec![
        Metric::now("train_loss", m.train_loss, step),
        Metric::now("train_accuracy", m.train_accuracy, step),
        Metric::now("val_loss", m.val_loss, step),
        Metric::now("val_accuracy", m.val_accuracy, step),
        Metric::now("epoch_seconds", m.seconds, step),
        Metric::now("samples_per_second", m.samples_per_second, step),
    ]
}
