//! Every patient of the store with the serving model's call, for the page's patient list:
//! computed once per model version, store and thresholds in force, then served from the
//! cache. Reading the list is not a prediction request: no audit record per page load (each
//! patient opened still is one, through `GET /predict/{id}`).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use http_kit::ApiError;
use patient_store::PatientStore;
use seizure_model::Threshold;

use crate::model::LoadedModel;
use crate::service::patients::patient_store_for;
use crate::service::scoring::{input_bound, patient_call_of, score, serving_model, threshold_of};
use crate::service::work::{admit, blocking_as};
use crate::state::{AppState, SharedState};
use crate::verdicts::{CacheKey, PatientVerdict, VerdictList};

/// The serving model's calls for every patient of the store (cached).
#[tracing::instrument(skip_all)]
pub(crate) async fn verdicts(
    state: &SharedState,
    user: &str,
) -> Result<Arc<VerdictList>, ApiError> {
    let model = serving_model(state)?;
    let store = patient_store_for(state, &model)?;
    let key = CacheKey {
        model_version: model.version.clone(),
        store: Arc::clone(&store),
        thresholds: (
            state.settings.threshold.map(Threshold::into_inner),
            state.settings.patient_threshold.map(Threshold::into_inner),
        ),
    };
    // Held while computing: whoever asks meanwhile waits for this computation.
    let mut cached = state.verdicts.lock().await;
    if let Some(list) = cached.get(&key) {
        return Ok(list);
    }
    let ticket = admit(state, user)?;
    let windows = store.patient_ids().len() * eeg_data::CHUNKS_PER_SEGMENT;
    let list = blocking_as(&ticket, windows, {
        let (state, model, store) = (Arc::clone(state), Arc::clone(&model), Arc::clone(&store));
        move || compute(&state, &model, &store)
    })
    .await?;
    let list = Arc::new(list);
    cached.put(key, Arc::clone(&list));
    tracing::info!(model_version = %model.version, patients = list.patients.len(), "patient verdicts computed");
    Ok(list)
}

fn compute(
    state: &AppState,
    model: &LoadedModel,
    store: &PatientStore,
) -> Result<VerdictList, ApiError> {
    let never = AtomicBool::new(false);
    let bound = input_bound(state, model);
    let (threshold, _) = threshold_of(state, model);
    let (call, _) = patient_call_of(state, model, threshold);
    let mut patients = Vec::new();
    for patient_id in store.patient_ids() {
        let Some(recordings) = store.get(patient_id).map_err(ApiError::internal)? else {
            continue;
        };
        // A corrupt patient is left out of the list (opening it says why), not a failed list.
        if recordings
            .samples
            .iter()
            .any(|v| !v.is_finite() || f64::from(v.abs()) > bound)
        {
            tracing::error!(patient_id, "the patient store holds a non-physical value");
            continue;
        }
        let answer = score(
            state,
            model,
            &recordings.samples,
            Some(patient_id),
            Some(&recordings.chunks),
            &never,
            None,
        )?;
        patients.push(PatientVerdict {
            patient_id,
            prediction: answer.prediction.clone(),
            patient_score: answer.patient_score,
            recordings_out_of_distribution: answer
                .out_of_distribution
                .as_ref()
                .map_or(0, |o| o.flagged_recordings.len()),
        });
    }
    Ok(VerdictList {
        model_version: model.version.clone(),
        patient_rule: call.rule.as_str().to_owned(),
        patient_threshold: call.threshold,
        threshold,
        computed_at: crate::audit::format_micros(crate::audit::now_micros()),
        patients,
    })
}
