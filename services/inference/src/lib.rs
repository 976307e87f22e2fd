//! The inference service: seizure predictions per patient (from the patient store that
//! patient-pull writes) or per batch of raw recordings, with the production model behind an
//! atomic pointer (`POST /reload-model` swaps it without downtime), an SQL audit log of every
//! prediction, Prometheus metrics and an OpenAPI document.
//!
//! Dependencies run one way: [`startup`] -> [`routes`] -> [`service`] -> [`state`], with
//! the command line ([`config`]) and the memory at the caps ([`footprint`]) beside the state
//! -> [`settings`] -> leaves ([`model`], [`audit`], [`admission`], [`metrics`],
//! [`fleet_drift`], [`quota`], [`sessions`], [`signals`], [`verdicts`]). A leaf never imports
//! a layer above it (`tests/layering` checks).

// Leaves: no import of the layers above.
pub mod admission;
pub mod audit;
pub mod fleet_drift;
pub mod metrics;
pub mod model;
pub mod quota;
pub mod sessions;
pub mod signals;
pub mod verdicts;
// The settings, the command line they are parsed from, and the memory the caps may take.
pub mod config;
pub mod footprint;
pub mod settings;
// The shared state, the service layer, the routes, and startup.
pub mod routes;
pub mod service;
pub mod startup;
pub mod state;

pub use config::{Cli, InferenceArgs, DEFAULT_LISTEN};
pub use settings::{InferenceSettings, SettingsError};
pub use startup::{build_state, run, runtime, serve};
pub use state::AppState;
