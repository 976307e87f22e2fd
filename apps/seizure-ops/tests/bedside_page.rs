//! The bedside page (`/ui/` on inference) in a real browser: headless Chromium driven by
//! playwright-core (npm) against `seizure-ops up`, offline. Log in (after a wrong password),
//! open an unknown then a real patient (trace, probability, threshold), replay the patient as
//! a live stream and see the alarm the server raised; screenshots kept under the target
//! directory (`tmp/bedside-page/`).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{login, Running};
use reqwest::blocking::Client;
use serde_json::Value;
use test_support::workspace_root;

/// Where the screenshots stay after the test: `<target>/tmp/bedside-page/`.
fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bedside-page");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn get(http: &Client, url: &str, token: &str) -> Value {
    let answer = http.get(url).bearer_auth(token).send().unwrap();
    assert!(answer.status().is_success(), "{url}: {}", answer.status());
    answer.json().unwrap()
}

#[test]
fn the_bedside_page_logs_in_draws_a_patient_and_shows_a_replayed_alarm() {
    let (Some(chromium), Some(playwright)) =
        (test_support::chromium(), test_support::playwright_core())
    else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let up = Running::quick_up(home.path());
    assert!(up.banner.contains("/ui/"), "{}", up.banner);
    let password = up.generated_password();
    let (auth, inference) = (up.url("auth"), up.url("inference"));
    let http = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let token = login(&http, &auth, &password);

    // The patient the served model finds most seizure-like: its replay must raise an alarm.
    let patients = get(&http, &format!("{inference}/patients"), &token);
    let ids: Vec<u64> = serde_json::from_value(patients["patients"].clone()).unwrap();
    assert_eq!(patients["count"], ids.len());
    let (patient, prediction) = ids
        .iter()
        .map(|id| {
            (
                *id,
                get(&http, &format!("{inference}/predict/{id}"), &token),
            )
        })
        .max_by(|a, b| {
            let p = |v: &Value| v["seizure_probability"].as_f64().unwrap();
            p(&a.1).total_cmp(&p(&b.1))
        })
        .unwrap();
    let recordings = prediction["recordings"].as_u64().unwrap();
    let unknown = ids.iter().max().unwrap() + 1000;

    // playwright wants the browser's path, not its name.
    let chromium = std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(&chromium))
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or(chromium);
    let shots = screenshot_dir();
    let output = Command::new("node")
        .arg(workspace_root().join("apps/seizure-ops/tests/clients/bedside_page.mjs"))
        .env("PLAYWRIGHT_CORE", &playwright)
        .env("CHROMIUM", &chromium)
        .env("PAGE_URL", format!("{inference}/ui"))
        .env("USERNAME", "admin")
        .env("PASSWORD", &password)
        .env("PATIENT", patient.to_string())
        .env("UNKNOWN_PATIENT", unknown.to_string())
        .env("SHOTS", &shots)
        .output()
        .expect("node runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser session failed:\n{stderr}"
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    let step = |name: &str| -> &Value {
        seen["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {seen}"))
    };

    assert_eq!(step("wrong password")["message"], "wrong user or password");
    assert_eq!(step("wrong password")["app_hidden"], true);
    let model = step("logged in")["model"].as_str().unwrap();
    assert!(model.contains("v1"), "{model}");
    assert_eq!(step("logged in")["user"], "admin");
    let unknown_status = step("unknown patient")["status"].as_str().unwrap();
    assert!(
        unknown_status.contains(&format!(
            "patient {unknown} could not be opened: no patient {unknown}"
        )) && !unknown_status.contains("404"),
        "{unknown_status}"
    );

    assert_eq!(step("login page")["token_form_hidden"], true);
    assert_eq!(step("no alarms yet")["empty_text"], "\"No alarms.\"");
    for (name, id) in [
        ("unknown after a patient", unknown.to_string()),
        ("zero after a patient", "0".to_owned()),
        ("not a number after a patient", "abc".to_owned()),
    ] {
        let failed = step(name);
        let status = failed["status"].as_str().unwrap();
        assert!(
            status.starts_with(&format!("patient {id} could not be opened: ")),
            "{failed}"
        );
        assert_eq!(
            failed["trace_left"], 0,
            "the previous trace stays: {failed}"
        );
        assert_eq!(failed["probability_left"], 0, "{failed}");
        assert_eq!(
            failed["summary_left"], "",
            "the previous verdict stays: {failed}"
        );
        assert_eq!(failed["stream_disabled"], true);
    }
    // The page names its icon, and the service serves it (headless Chromium does not fetch
    // icons, so the request is made here).
    let kept = step("alarm kept across a switch");
    assert_eq!(kept["icon"], "/ui/favicon.svg");
    let icon = http
        .get(format!("{inference}/ui/favicon.svg"))
        .send()
        .unwrap();
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    assert!(icon.text().unwrap().starts_with("<svg"));
    // An unacknowledged alarm survives another patient's opening, banner and list.
    assert_eq!(kept["banner_visible"], true, "{kept}");
    assert!(
        kept["banner_text"]
            .as_str()
            .unwrap()
            .starts_with(&format!("SEIZURE ALARM: patient {patient}")),
        "{kept}"
    );
    assert_eq!(kept["alarms_after"], kept["alarms_before"], "{kept}");
    assert!(kept["alarms_before"].as_u64().unwrap() >= 1, "{kept}");

    let opened = step("patient");
    let summary = opened["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("Patient {patient}: "))
            && summary.contains(prediction["prediction"].as_str().unwrap())
            && summary.contains("Model v1."),
        "{summary}"
    );
    // The verdict explained in plain words, no internal names.
    assert!(
        summary.contains("How: the patient's score is the mean seizure probability of its 23 one-second recordings")
            && summary.contains("or more is called seizure"),
        "{summary}"
    );
    for jargon in ["model_card", "out_of_fold", "mean_probability", "segment V"] {
        assert!(!summary.contains(jargon), "{jargon} in {summary}");
        assert!(
            !opened["status"].as_str().unwrap().contains(jargon),
            "{opened}"
        );
    }
    // The plot says what it shows: recordings before a stream, sliding windows during it.
    assert!(
        opened["caption"]
            .as_str()
            .unwrap()
            .starts_with("Seizure probability of each of the 23 one-second recordings"),
        "{opened}"
    );
    assert!(opened["trace_points"].as_u64().unwrap() >= 500, "{opened}");
    // Real axes: seconds along the bottom, µV at a fixed scale, probability 0-100% inside
    // the frame; drawn in the element's own pixels.
    let ticks =
        |name: &str| -> Vec<String> { serde_json::from_value(opened[name].clone()).unwrap() };
    let time = ticks("time_ticks");
    assert!(time.len() >= 3 && time[0] == "0 s", "{time:?}");
    assert!(time.iter().all(|t| t.ends_with(" s")), "{time:?}");
    assert_eq!(
        ticks("amplitude_ticks"),
        ["+500", "+250", "0", "−250", "−500"]
    );
    assert_eq!(ticks("probability_ticks"), ["0%", "50%", "100%"]);
    assert_eq!(opened["unstretched"], true, "{opened}");
    assert_eq!(
        step("sensitivity")["amplitude_ticks"][0],
        "+2000",
        "the scale is the clinician's choice"
    );
    // Out-of-distribution recordings are marked on the trace (none, or as many as flagged).
    let flagged = prediction["out_of_distribution"]["flagged_recordings"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(opened["ood_spans"], flagged, "{opened}");
    // The visible patient list: every patient with the served model's call.
    let listed: Vec<String> = serde_json::from_value(opened["listed"].clone()).unwrap();
    assert_eq!(listed.len(), ids.len(), "{listed:?}");
    let ours = listed
        .iter()
        .find(|l| l.starts_with(&format!("Patient {patient}:")))
        .unwrap_or_else(|| panic!("patient {patient} not listed with a call: {listed:?}"));
    assert!(
        ours.contains(prediction["prediction"].as_str().unwrap()),
        "{ours} vs {prediction}"
    );
    assert_eq!(opened["current"], patient.to_string());
    assert!(
        opened["list_note"]
            .as_str()
            .unwrap()
            .starts_with("Calls by model v1"),
        "{opened}"
    );
    // A reload reopens the patient of the address.
    assert_eq!(opened["hash"], format!("#patient={patient}"));
    let reloaded = step("reloaded");
    assert_eq!(reloaded["input"], patient.to_string(), "{reloaded}");
    assert!(
        reloaded["summary"]
            .as_str()
            .unwrap()
            .starts_with(&format!("Patient {patient}: ")),
        "{reloaded}"
    );
    for size in ["viewport 1280x720", "viewport 768x1024"] {
        let seen = step(size);
        assert!(seen["overflow"].as_i64().unwrap() <= 0, "{size}: {seen}");
        assert_eq!(seen["unstretched"], true, "{size}: {seen}");
        assert_eq!(seen["list_visible"], true, "{size}: {seen}");
    }
    let from_list = step("opened from the list");
    assert_eq!(from_list["input"], from_list["other"], "{from_list}");
    assert_eq!(from_list["current"], from_list["other"], "{from_list}");
    assert_eq!(opened["threshold_drawn"], 1);
    assert!(opened["probability_path"].as_u64().unwrap() > 0);

    let alarm = step("alarm");
    assert_eq!(alarm["banner_visible"], true, "{alarm}");
    let shown = alarm["banner_shown"].as_array().unwrap();
    assert!(
        shown.iter().any(|t| t
            .as_str()
            .unwrap()
            .contains(&format!("SEIZURE ALARM: patient {patient}"))),
        "{alarm}"
    );
    assert!(alarm["alarm_lines"].as_u64().unwrap() >= 1, "{alarm}");
    // Focus moves to the alarm (Enter acknowledges it).
    assert_eq!(alarm["focused"], "acknowledge", "{alarm}");
    let caption = alarm["caption"].as_str().unwrap();
    assert!(
        caption.starts_with("Seizure probability of each sliding window"),
        "{caption}"
    );
    let status = alarm["status"].as_str().unwrap();
    assert!(
        status.contains("alarm when a window (one every 0.50 s) reaches")
            && !status.contains("session"),
        "{status}"
    );
    assert!(
        alarm["first_alarm"]
            .as_str()
            .unwrap()
            .starts_with(&format!("patient {patient}: seizure onset")),
        "{alarm}"
    );
    // Every window of the replay was scored by the server: (samples - 178) / hop + 1.
    let windows = (recordings * 178 - 178) / 87 + 1;
    let ended = step("stream ended")["status"].as_str().unwrap();
    assert!(
        ended.contains(&format!("{windows} windows scored")),
        "{ended} (expected {windows} windows)"
    );
    // Alarms are records: a reload shows the same open alarms, each naming its patient.
    let reloaded = step("alarms after a reload");
    assert_eq!(
        reloaded["open_after"], reloaded["open_before"],
        "{reloaded}"
    );
    assert!(
        reloaded["first"].as_str().unwrap().starts_with(&format!(
            "patient {patient} (replay): seizure alarm raised at"
        )),
        "{reloaded}"
    );
    assert_eq!(reloaded["banner_visible"], true, "{reloaded}");
    let acknowledged = step("acknowledged");
    assert_eq!(acknowledged["still_up_after_end"], true);
    assert_eq!(acknowledged["hidden_after"], true, "{acknowledged}");
    assert_eq!(acknowledged["open_left"], 0, "{acknowledged}");
    // The page shows who acknowledged each alarm, and when.
    let shown: Vec<String> = serde_json::from_value(acknowledged["acknowledged"].clone()).unwrap();
    assert!(!shown.is_empty(), "{acknowledged}");
    assert!(
        shown.iter().all(|t| t.starts_with(&format!(
            "patient {patient} (replay): seizure alarm raised at"
        )) && t.contains("; acknowledged by admin at ")),
        "{shown:?}"
    );
    // Each press acknowledged one alarm, recorded with who and when; none is left open.
    let open = get(&http, &format!("{inference}/alarms"), &token);
    assert_eq!(open["count"], 0, "{open}");
    let log = get(&http, &format!("{inference}/logs?limit=500"), &token);
    let records = log["records"].as_array().unwrap();
    let alarms: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "monitor_replay_alarm")
        .collect();
    let acks: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "alarm_acknowledged")
        .collect();
    assert_eq!(
        acknowledged["presses"].as_u64().unwrap() as usize,
        alarms.len(),
        "one press per alarm"
    );
    assert_eq!(acks.len(), alarms.len(), "{log}");
    for alarm in &alarms {
        assert_eq!(alarm["patient_id"], patient, "{alarm}");
        let ack = acks
            .iter()
            .find(|a| a["acknowledges"] == alarm["id"])
            .unwrap_or_else(|| panic!("no acknowledgement of {alarm}"));
        assert_eq!(ack["username"], "admin");
        assert_eq!(ack["patient_id"], patient);
    }
    let out = step("logged out");
    // The auth service revoked the page's refresh token.
    assert_eq!(out["logout_status"], 204, "{out}");
    assert!(out["stored_tokens"].is_null());
    assert_eq!(
        out["trace_left"], 0,
        "nothing of the patient stays on screen"
    );
    assert_eq!(out["summary_left"], "");
    // Logging out on purpose is said plainly, not as an error.
    assert_eq!(out["message"], "logged out");
    assert_eq!(out["message_class"], "notice");
    // Nothing of the patient in the address or the list either.
    assert_eq!(out["hash"], "", "{out}");
    assert_eq!(out["listed"], 0, "{out}");

    // Chromium logs the answers the steps above provoked (the wrong password's 401, the
    // unknown patient's 404); nothing else may show up.
    let unexpected: Vec<&Value> = seen["console"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            let m = m.as_str().unwrap();
            let provoked = m.contains("status of 401")
                || m.contains("status of 404")
                || m == format!("seizure-ops: no patient {unknown} (404 not_found)")
                || m == "seizure-ops: no patient 0 (404 not_found)";
            !provoked
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "the browser logged errors: {unexpected:?}"
    );
    assert!(
        seen["failed_requests"].as_array().unwrap().is_empty(),
        "requests failed: {}",
        seen["failed_requests"]
    );
    for name in [
        "1-login",
        "2-patient",
        "2b-unknown-after-patient",
        "3-alarm",
        "4-stream-ended",
        "5-1280x720",
        "5-768x1024",
        "6-open-alarms",
        "7-acknowledged",
    ] {
        let png = std::fs::read(shots.join(format!("{name}.png"))).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "{name}.png"
        );
    }
    eprintln!("screenshots: {}", shots.display());
    up.interrupt();
}
