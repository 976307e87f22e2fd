//! The shipped monitoring configuration, checked with the real tools: `promtool` (config, rules
//! and their unit tests), `amtool` (Alertmanager config), and a real Prometheus scraping the real
//! services under traffic, against which every Grafana panel's query must return data.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{login, Running};
use reqwest::blocking::Client;
use serde_json::{json, Value};
use test_support::{run_ok, workspace_root};

/// A Debian `prometheus` package tool (`promtool`, `prometheus`, `amtool`), or a loud skip.
fn tool(name: &str) -> Option<PathBuf> {
    let path = Path::new("/usr/bin").join(name);
    if path.is_file() {
        return Some(path);
    }
    test_support::skip(&format!(
        "{name} is not installed (Debian packages prometheus, prometheus-alertmanager)"
    ));
    None
}

#[test]
fn prometheus_config_and_alert_rules_pass_promtool_and_their_unit_tests() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let root = workspace_root();
    run_ok(
        Command::new(&promtool)
            .args(["check", "config"])
            .arg(root.join("prometheus/prometheus.yml")),
    );
    let tests = run_ok(
        Command::new(&promtool)
            .args(["test", "rules"])
            .arg(root.join("prometheus/alerts_test.yml")),
    );
    assert!(String::from_utf8_lossy(&tests.stdout).contains("SUCCESS"));

    // Every alert in alerts.yml has at least one unit test.
    let rules = std::fs::read_to_string(root.join("prometheus/alerts.yml")).unwrap();
    let tested = std::fs::read_to_string(root.join("prometheus/alerts_test.yml")).unwrap();
    for alert in rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
    {
        assert!(
            tested.contains(&format!("alertname: {alert}")),
            "alert {alert} has no unit test"
        );
    }
}

#[test]
fn alertmanager_config_is_valid_once_the_webhook_is_set_and_refused_without() {
    let Some(amtool) = tool("amtool") else {
        return;
    };
    let template =
        std::fs::read_to_string(workspace_root().join("alertmanager/alertmanager.yml")).unwrap();
    assert!(template.contains("${ALERT_WEBHOOK_URL}"));
    let dir = tempfile::tempdir().unwrap();
    let rendered = dir.path().join("alertmanager.yml");
    std::fs::write(
        &rendered,
        template.replace(
            "${ALERT_WEBHOOK_URL}",
            "https://hooks.example.org/seizure-ops",
        ),
    )
    .unwrap();
    run_ok(Command::new(&amtool).arg("check-config").arg(&rendered));
    std::fs::write(&rendered, template.replace("${ALERT_WEBHOOK_URL}", "")).unwrap();
    let unset = Command::new(&amtool)
        .arg("check-config")
        .arg(&rendered)
        .output()
        .unwrap();
    assert!(
        !unset.status.success(),
        "an empty webhook URL must be refused"
    );
}

struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real Prometheus scraping `targets` (job, host:port) every second, with the shipped rules.
fn start_prometheus(binary: &Path, targets: &[(&str, String)]) -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    let scrape_configs: Vec<Value> = targets
        .iter()
        .map(|(job, target)| json!({"job_name": job, "static_configs": [{"targets": [target]}]}))
        .collect();
    let config = json!({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [workspace_root().join("prometheus/alerts.yml")],
        "scrape_configs": scrape_configs,
    });
    // JSON is YAML.
    let config_file = dir.path().join("prometheus.yml");
    std::fs::write(&config_file, config.to_string()).unwrap();
    let port = test_support::free_port();
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    }
}

impl Prometheus {
    /// The instant-query result vector, or None while Prometheus is not answering.
    fn query(&self, http: &Client, promql: &str) -> Option<Vec<Value>> {
        let answer: Value = http
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", promql)])
            .send()
            .ok()?
            .json()
            .ok()?;
        assert_eq!(answer["status"], "success", "{promql}: {answer}");
        answer["data"]["result"].as_array().cloned()
    }

    fn wait_for(&self, http: &Client, promql: &str, what: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(result) = self.query(http, promql).filter(|r| !r.is_empty()) {
                return result;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} ({promql})"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// Grafana's interval variables as a dashboard over the last few minutes resolves them.
fn resolve_grafana_variables(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "5m")
}

#[test]
fn every_dashboard_panel_query_returns_data_from_a_real_prometheus() {
    let Some(prometheus_bin) = tool("prometheus") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let up = Running::quick_up_one_feeder(home.path());
    let (auth, inference) = (up.url("auth"), up.url("inference"));
    let host = |url: &str| url.trim_start_matches("http://").to_owned();
    let prometheus = start_prometheus(
        &prometheus_bin,
        &[("auth", host(&auth)), ("inference", host(&inference))],
    );
    let http = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    prometheus.wait_for(
        &http,
        r#"count(up{job=~"auth|inference"} == 1) == 2"#,
        "both services scraped (up == 1)",
    );

    // Traffic over several scrapes: logins (one failing), predictions, a 404, a reload.
    let password = up.generated_password();
    let patient = up.example_patient();
    let token = login(&http, &auth, &password);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(6) {
        let predicted = http
            .get(format!("{inference}/predict/{patient}"))
            .bearer_auth(&token)
            .send()
            .unwrap();
        assert!(predicted.status().is_success());
        http.get(format!("{inference}/predict/999999"))
            .bearer_auth(&token)
            .send()
            .unwrap();
        http.post(format!("{auth}/login"))
            .json(&json!({"username": "admin", "password": "wrong password!"}))
            .send()
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
    let reloaded = http
        .post(format!("{inference}/reload-model"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert!(reloaded.status().is_success());
    // New recordings (not the store's) fill the drift window for the drift panels.
    post_recordings(
        &http,
        &inference,
        &token,
        &held_out_recordings(home.path(), 1.0),
    );
    prometheus.wait_for(
        &http,
        r#"input_drift_ready{job="inference"} == 1"#,
        "the drift window to fill",
    );
    prometheus.wait_for(
        &http,
        r#"increase(predictions_total{job="inference"}[1m]) > 0"#,
        "the prediction counters to move",
    );
    prometheus.wait_for(
        &http,
        r#"model_reloads_total{job="inference",result="success"} > 0"#,
        "the reload to be scraped",
    );

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("grafana/dashboards/seizure-ops.json"))
            .unwrap(),
    )
    .unwrap();
    let datasource = std::fs::read_to_string(
        workspace_root().join("grafana/provisioning/datasources/prometheus.yml"),
    )
    .unwrap();
    let mut empty = Vec::new();
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        let uid = panel["datasource"]["uid"].as_str().unwrap();
        assert!(
            datasource.contains(&format!("uid: {uid}")),
            "panel {} uses datasource {uid}, which is not provisioned",
            panel["title"]
        );
        for target in panel["targets"].as_array().unwrap() {
            let expr = resolve_grafana_variables(target["expr"].as_str().unwrap());
            let result = prometheus.query(&http, &expr).unwrap_or_default();
            checked += 1;
            if result.is_empty() {
                empty.push(format!("{}: {expr}", panel["title"]));
            }
        }
    }
    assert!(checked >= 10, "only {checked} queries");
    assert!(
        empty.is_empty(),
        "panels without data:\n{}",
        empty.join("\n")
    );
    up.interrupt();
}

/// Held-out recordings of the quick pipeline (its test split, never trained on), scaled.
/// The held-out test recordings at `gain`, half a microvolt off: the data set's own
/// recordings are public and, posted back unchanged, are left out of the drift window (the
/// profile fingerprints them); half a µV (below the data's 1 µV quantisation) makes them new
/// input that looks like the training data.
fn held_out_recordings(home: &Path, gain: f32) -> Vec<Vec<f32>> {
    use eeg_data::processed::{ProcessedDataset, Split};
    let raw = ProcessedDataset::open(&home.join("data"))
        .unwrap()
        .raw(Split::Test)
        .unwrap();
    raw.outer_iter()
        .map(|row| row.iter().map(|v| v * gain + 0.5).collect())
        .collect()
}

fn post_recordings(http: &Client, inference: &str, token: &str, recordings: &[Vec<f32>]) -> Value {
    let answer = http
        .post(format!("{inference}/predict"))
        .bearer_auth(token)
        .json(&json!({ "recordings": recordings }))
        .send()
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    answer.json().unwrap()
}

/// Drift, end to end: the quick pipeline's model carries a drift profile; its held-out
/// recordings fill the service's sliding window and keep the drift score under 1 (no
/// alert); the same recordings at gain x2 raise the score over 1 and a real Prometheus,
/// evaluating the shipped rules, puts InputDrift in its pending state (its `for: 10m` to
/// firing is checked by the promtool unit tests).
#[test]
fn a_gain_of_two_raises_the_drift_gauges_and_the_alert() {
    let Some(prometheus_bin) = tool("prometheus") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let up = Running::quick_up_one_feeder(home.path());
    let inference = up.url("inference");
    let prometheus = start_prometheus(
        &prometheus_bin,
        &[(
            "inference",
            inference.trim_start_matches("http://").to_owned(),
        )],
    );
    let http = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let token = login(&http, &up.url("auth"), &up.generated_password());

    let unchanged = held_out_recordings(home.path(), 1.0);
    let answer = post_recordings(&http, &inference, &token, &unchanged);
    let ood = &answer["out_of_distribution"];
    assert!(ood["threshold"].as_f64().unwrap() > 0.0, "{answer}");
    assert!(answer["per_recording"][0]["ood"]["feature"].is_string());
    prometheus.wait_for(
        &http,
        r#"input_drift_ready{job="inference"} == 1"#,
        "the drift window to fill",
    );
    let score = prometheus.wait_for(&http, r#"input_drift_score{job="inference"}"#, "a score");
    let unchanged_score: f64 = score[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(
        unchanged_score < 1.0,
        "held-out data drift score {unchanged_score}"
    );
    assert!(prometheus
        .query(&http, r#"ALERTS{alertname="InputDrift"}"#)
        .unwrap()
        .is_empty());

    // Gain x2, enough times to replace every background window of the sliding window.
    let doubled = held_out_recordings(home.path(), 2.0);
    for _ in 0..3 {
        post_recordings(&http, &inference, &token, &doubled);
    }
    let pending = prometheus.wait_for(
        &http,
        r#"ALERTS{alertname="InputDrift",alertstate="pending"}"#,
        "InputDrift to go pending",
    );
    assert_eq!(pending[0]["metric"]["severity"], "ticket");
    let score = prometheus.wait_for(
        &http,
        r#"input_drift_score{job="inference"} > 1"#,
        "the drift score over 1",
    );
    eprintln!(
        "drift score: held-out {unchanged_score:.2}, gain x2 {}",
        score[0]["value"][1]
    );
    prometheus.wait_for(
        &http,
        r#"count(input_drift_ks{job="inference"} > 0) == 10"#,
        "a KS statistic per feature",
    );
    up.interrupt();
}
