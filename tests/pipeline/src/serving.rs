//! The inference service on a random port, over a workspace's production model and patient
//! store, with tokens from a test signing key.

use std::path::Path;
use std::sync::Arc;

use auth_tokens::{Issuer, Jwks, Role, SigningAlgorithm, SigningKey};
use test_support::http::JsonClient;

use crate::Workspace;

pub struct App {
    pub api: JsonClient,
    pub issuer: Issuer,
    pub state: Arc<inference::AppState>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

/// The shared JSON helpers (`get`, `post`, `text`) on the service's address.
impl std::ops::Deref for App {
    type Target = JsonClient;

    fn deref(&self) -> &JsonClient {
        &self.api
    }
}

impl App {
    pub async fn spawn(production: &Path, patients: &Path, database: Option<String>) -> Self {
        Self::spawn_with(production, patients, database, |_| {}).await
    }

    /// As [`App::spawn`], with `edit` applied to the service's arguments first.
    pub async fn spawn_with(
        production: &Path,
        patients: &Path,
        database: Option<String>,
        edit: impl FnOnce(&mut inference::InferenceArgs),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate(SigningAlgorithm::RS256).unwrap();
        let public = dir.path().join("auth-public.json");
        std::fs::write(&public, Jwks::of(&[&key]).to_json().to_string()).unwrap();
        let mut args = default_args(production, patients, dir.path());
        args.public_key_file = Some(public);
        if let Some(database) = database {
            args.database.database_url = Some(database.into());
        }
        edit(&mut args);
        let state = inference::build_state(&args.settings().unwrap())
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        // Dropping the app (its sender) shuts the server down too.
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(inference::serve(listener, state.clone(), async {
            let _ = stop.await;
        }));
        Self {
            api: JsonClient::new(base),
            issuer: Issuer::new(key, "seizure-ops-auth", "seizure-ops", 900),
            state,
            shutdown,
            server,
            _dir: dir,
        }
    }

    /// What SIGTERM does: stop accepting, drain in-flight requests, flush the audit log.
    pub async fn shut_down(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(());
        self.server.await?
    }

    pub async fn for_workspace(ws: &Workspace) -> Self {
        Self::spawn(&ws.path("production"), &ws.path("patients/store"), None).await
    }

    /// [`App::for_workspace`] with `edit` applied to the service's arguments first.
    pub async fn for_workspace_with(
        ws: &Workspace,
        edit: impl FnOnce(&mut inference::InferenceArgs),
    ) -> Self {
        Self::spawn_with(
            &ws.path("production"),
            &ws.path("patients/store"),
            None,
            edit,
        )
        .await
    }

    pub fn token(&self, role: Role) -> String {
        self.issuer.issue("ada", role).unwrap().0
    }

    pub async fn metrics(&self) -> String {
        self.text("/metrics").await
    }

    /// Waits (up to 60 s) until the service is ready again with nothing left in its audit
    /// spill file: every record it answered is in the database.
    pub async fn wait_until_audit_is_written(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let (_, ready) = self.get("/health/ready", None).await;
            if ready["status"] == "ready" && ready["audit"]["spill_pending"] == 0 {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{ready}");
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    }
}

/// The service's arguments for a test: random port, the given release and store, its
/// database and spill file in `dir`, no key source (set one), no pointer watch.
pub fn default_args(production: &Path, patients: &Path, dir: &Path) -> inference::InferenceArgs {
    // The flags' own defaults, the shell's environment ignored.
    let mut args: inference::InferenceArgs = service_flags::defaults();
    args.listen = "127.0.0.1:0".parse().unwrap();
    args.production_dir = production.to_owned();
    args.patient_store = patients.to_owned();
    args.database.database_url = Some(dir.join("predictions.db").display().to_string().into());
    args.audit_spill_file = dir.join("predictions.spill.jsonl");
    // Tests that want the pointer watch turn it on (it would add reloads to counts).
    args.model_watch_seconds = 0;
    args
}

pub use test_support::http::{answer, assert_error};

/// The ids in the store: the patient pool's segments, numbered among all segments.
pub fn patient_ids(ws: &Workspace) -> Vec<u64> {
    patient_store::PatientStore::open(&ws.path("patients/store"))
        .unwrap()
        .patient_ids()
}

pub fn patient_samples(ws: &Workspace, patient_id: u64) -> Vec<Vec<f64>> {
    let store = patient_store::PatientStore::open(&ws.path("patients/store")).unwrap();
    let recordings = store.get(patient_id).unwrap().unwrap();
    recordings
        .samples
        .chunks(178)
        .map(|c| c.iter().map(|&v| f64::from(v)).collect())
        .collect()
}
