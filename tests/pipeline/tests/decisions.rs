//! The three decisions chosen out of fold, end to end on the synthetic data: training writes
//! them into the card with their evidence, evaluation scores patients by the patient decision,
//! and the service answers patients, batches and monitoring sessions by the card's decisions.
//! An earlier card (one threshold chosen on validation) keeps serving as before, reported as
//! such.

use std::sync::OnceLock;

use auth_tokens::Role;
use pipeline_tests::serving::{patient_ids, App};
use pipeline_tests::Workspace;
use reqwest::StatusCode;
use serde_json::json;

/// A model trained with 3-fold out-of-fold decisions, promoted, with its patient store.
fn decided() -> &'static Workspace {
    static WORKSPACE: OnceLock<Workspace> = OnceLock::new();
    WORKSPACE.get_or_init(|| {
        let ws = Workspace::new(None);
        ws.train_with(2, 3e-3, |args| args.oof_folds = 3);
        let (report, promotion) = ws.evaluate();
        assert!(promotion.is_some(), "{}", report.decision.reason);
        ws.pull_patients();
        ws
    })
}

fn card(ws: &Workspace) -> seizure_model::ModelCard {
    seizure_model::artifact::read_card(&ws.path("production")).unwrap()
}

#[test]
fn training_records_three_decisions_with_their_evidence() {
    let ws = decided();
    let card = card(ws);
    let decisions = card.decisions.as_ref().expect("out-of-fold decisions");
    let manifest = eeg_data::processed::ProcessedDataset::open(&ws.path("data"))
        .unwrap()
        .manifest;
    let pool = manifest.splits[&eeg_data::processed::Split::Train].segments
        + manifest.splits[&eeg_data::processed::Split::Validation].segments;
    // Every training and validation segment scored once out of fold; nothing else.
    assert_eq!(decisions.evidence.segments, pool);
    assert_eq!(decisions.evidence.folds, 3);
    let w = &decisions.window;
    assert_eq!(w.specificity.of + w.sensitivity.of, pool * 23);
    assert!(w.specificity.value >= w.target_specificity, "{w:?}");
    assert_eq!(card.threshold().0, w.threshold);
    let p = &decisions.patient;
    assert_eq!(p.accuracy.of, pool);
    assert!(
        p.margin[0] <= p.threshold && p.threshold <= p.margin[1],
        "{p:?}"
    );
    let a = decisions.alarm.as_ref().expect("an alarm decision");
    assert_eq!(a.seizures, decisions.evidence.seizure_segments);
    // Each background segment once: 23.6 s each.
    let background = pool - decisions.evidence.seizure_segments;
    let expected_hours = background as f64 * 4094.0 / eeg_data::SAMPLING_HZ / 3600.0;
    assert!((a.background_hours - expected_hours).abs() < 1e-9, "{a:?}");
    assert!(a.false_alarms_per_hour_interval[1] > a.false_alarms_per_hour);
    assert_eq!(card.decision_basis(), "out_of_fold");
}

#[test]
fn evaluation_calls_patients_by_the_patient_decision() {
    let ws = decided();
    let card = card(ws);
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("reports/metrics.json")).unwrap())
            .unwrap();
    let candidate = &metrics["candidate"];
    let patient = &card.decisions.as_ref().unwrap().patient;
    assert_eq!(candidate["patients"]["threshold"], patient.threshold);
    assert_eq!(candidate["patient_call"]["rule"], patient.rule.as_str());
    assert_eq!(candidate["decision_basis"], "out_of_fold");
    assert_eq!(candidate["recordings"]["threshold"], card.threshold().0);
}

#[tokio::test]
async fn the_service_answers_by_the_cards_decisions_and_overrides_say_so() {
    let ws = decided();
    let card = card(ws);
    let decisions = card.decisions.clone().unwrap();
    let app = App::for_workspace(ws).await;
    let token = app.token(Role::Clinician);
    for patient in patient_ids(ws).into_iter().take(5) {
        let (status, body) = app.get(&format!("/predict/{patient}"), Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["decision_basis"], "out_of_fold");
        assert_eq!(body["threshold"], decisions.window.threshold);
        assert_eq!(body["patient_threshold"], decisions.patient.threshold);
        assert_eq!(body["patient_rule"], decisions.patient.rule.as_str());
        let probabilities: Vec<f64> = body["per_recording"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["probability"].as_f64().unwrap())
            .collect();
        let score = decisions
            .patient
            .rule
            .score(&probabilities, decisions.window.threshold);
        assert!((body["patient_score"].as_f64().unwrap() - score).abs() < 1e-12);
        let called = score >= decisions.patient.threshold;
        assert_eq!(
            body["prediction"],
            if called { "seizure" } else { "non-seizure" }
        );
    }
    // A monitoring session defaults to the card's alarm rule.
    let (status, info) = app.post("/monitor/sessions", json!({}), Some(&token)).await;
    assert_eq!(status, StatusCode::CREATED, "{info}");
    let alarm = decisions.alarm.as_ref().unwrap();
    assert_eq!(info["alarm_k"], alarm.k);
    assert_eq!(info["alarm_n"], alarm.n);
    assert_eq!(info["refractory_s"], alarm.refractory_s);
    assert_eq!(info["threshold"], alarm.threshold);
    drop(app);

    // PATIENT_THRESHOLD overrides the patient decision only, and says so.
    let app = App::for_workspace_with(ws, |args| args.patient_threshold = Some(0.0)).await;
    let token = app.token(Role::Clinician);
    let patient = patient_ids(ws)[0];
    let (status, body) = app.get(&format!("/predict/{patient}"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["patient_threshold_source"], "override");
    assert_eq!(body["threshold_source"], "model_card");
    assert_eq!(body["prediction"], "seizure");
    drop(app);

    // PREDICTION_THRESHOLD overrides the window decision only: the patient threshold stays
    // the card's, and a positive fraction would count at the threshold in force.
    let app = App::for_workspace_with(ws, |args| args.threshold = Some(0.5)).await;
    let token = app.token(Role::Clinician);
    let (status, body) = app.get(&format!("/predict/{patient}"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["threshold_source"], "override");
    assert_eq!(body["threshold"], 0.5);
    assert_eq!(body["patient_threshold_source"], "model_card");
    assert_eq!(body["patient_threshold"], decisions.patient.threshold);
    let at_half = body["per_recording"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["probability"].as_f64().unwrap() >= 0.5)
        .count();
    assert_eq!(
        body["epileptic_recordings"].as_array().unwrap().len(),
        at_half
    );
}

#[tokio::test]
async fn an_earlier_card_keeps_one_threshold_for_every_decision() {
    let ws = Workspace::promoted(1);
    let card = card(&ws);
    assert!(card.decisions.is_none());
    assert_eq!(card.decision_basis(), "validation");
    let app = App::for_workspace(&ws).await;
    let token = app.token(Role::Clinician);
    let patient = patient_ids(&ws)[0];
    let (status, body) = app.get(&format!("/predict/{patient}"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["decision_basis"], "validation");
    assert_eq!(body["patient_rule"], "mean_probability");
    assert_eq!(body["patient_threshold"], body["threshold"]);
    assert_eq!(body["patient_score"], body["seizure_probability"]);
    let (_, info) = app.post("/monitor/sessions", json!({}), Some(&token)).await;
    assert_eq!(info["alarm_k"], 6);
    assert_eq!(info["alarm_n"], 6);
    assert_eq!(info["threshold"], body["threshold"]);
}
