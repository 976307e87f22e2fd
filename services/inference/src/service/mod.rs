//! The service layer: what the routes ask of the state. Admission and the work it admits,
//! scoring, readiness, the patient store, reloads and bedside sessions. It imports the state
//! and the leaves, never the routes.

pub(crate) mod alarms;
pub mod monitor;
pub(crate) mod patients;
pub(crate) mod readiness;
pub mod reload;
pub mod scoring;
pub(crate) mod verdicts;
pub(crate) mod work;
