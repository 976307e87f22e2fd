// The bedside view: log in with the auth service, open a patient of the store (its EEG with
// the per-recording seizure probability under it), or replay the patient as a live
// monitoring stream (POST /monitor/sessions, then pushes every hop) and see alarms as the
// server raises them. No framework, no network but this service and the auth service.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

const page = {
  config: null,
  tokens: null, // {access, refresh, username}
  refreshing: null, // the refresh in flight, shared by every caller that met a 401
  model: null, // GET /model-info
  patient: null, // {id, signal: Float32Array, hz, prediction}
  opening: 0, // the latest patient request: older answers are dropped
  stream: null, // {id, patient, stopped, sent, windows, events, threshold}
};

// ---------------------------------------------------------------- talking to the services

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function readJson(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.slice(0, 200) };
  }
}

async function authCall(path, body) {
  if (!page.config.auth_url) throw new Error("no auth service configured (UI_AUTH_URL)");
  let response;
  try {
    response = await fetch(page.config.auth_url + path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (e) {
    throw new Error(`cannot reach the auth service at ${page.config.auth_url}: ${e.message}`);
  }
  const answer = await readJson(response);
  if (!response.ok) throw new ApiError(response.status, answer);
  return answer;
}

function keepTokens(answer, username) {
  page.tokens = { access: answer.access_token, refresh: answer.refresh_token || null, username };
  sessionStorage.setItem("seizure-ops-tokens", JSON.stringify(page.tokens));
}

// One refresh at a time: the auth service rotates refresh tokens and treats a second use of
// one as theft (revoking the session), so callers that meet a 401 together share it.
function refreshTokens() {
  if (!page.tokens || !page.tokens.refresh || !page.config.auth_url) return Promise.resolve(false);
  if (!page.refreshing) {
    const tokens = page.tokens;
    page.refreshing = authCall("/refresh", { refresh_token: tokens.refresh })
      .then((answer) => {
        keepTokens(answer, tokens.username);
        return true;
      })
      .catch(() => false)
      .finally(() => {
        page.refreshing = null;
      });
  }
  return page.refreshing;
}

// The inference service, with the bearer token; an expired token is renewed once.
async function api(path, options = {}, retried = false) {
  if (!page.tokens) throw new ApiError(401, { message: "logged out" });
  const sent = page.tokens.access;
  const headers = { authorization: `Bearer ${sent}` };
  if (options.body) headers["content-type"] = "application/json";
  const response = await fetch(path, { ...options, headers });
  const answer = await readJson(response);
  if (response.status === 401 && !retried && page.tokens) {
    // Renewed meanwhile by another call, or renewed now.
    if (page.tokens.access !== sent || (await refreshTokens())) return api(path, options, true);
  }
  if (response.status === 401) {
    if (page.tokens) logOut("your session ended: log in again");
    throw new ApiError(401, answer);
  }
  if (!response.ok) {
    const error = new ApiError(response.status, answer);
    error.retryAfter = Number(response.headers.get("retry-after")) || null;
    throw error;
  }
  return answer;
}

// ---------------------------------------------------------------- drawing

function svgElement(name, attributes, className) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (className) element.setAttribute("class", className);
  return element;
}

function clear(svg) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
}

function box(svg) {
  const [, , width, height] = svg.getAttribute("viewBox").split(" ").map(Number);
  return { width, height };
}

// The EEG: a min/max envelope per pixel column, so a long signal keeps its spikes.
function drawTrace(signal, shown, durationS, hz) {
  const svg = $("trace");
  clear(svg);
  const { width, height } = box(svg);
  let peak = 1;
  for (let i = 0; i < signal.length; i++) peak = Math.max(peak, Math.abs(signal[i]));
  const y = (v) => height / 2 - (v / peak) * (height / 2 - 4);
  const x = (seconds) => (seconds / durationS) * width;
  svg.appendChild(svgElement("line", { x1: 0, x2: width, y1: height / 2, y2: height / 2, stroke: "#d0d4da" }, "zero"));
  const columns = Math.min(width, shown);
  const perColumn = shown / Math.max(columns, 1);
  let d = "";
  for (let c = 0; c < columns; c++) {
    const from = Math.floor(c * perColumn);
    const to = Math.max(from + 1, Math.floor((c + 1) * perColumn));
    let low = Infinity;
    let high = -Infinity;
    for (let i = from; i < to && i < shown; i++) {
      low = Math.min(low, signal[i]);
      high = Math.max(high, signal[i]);
    }
    const px = x(from / hz).toFixed(1);
    d += `${c === 0 ? "M" : "L"}${px},${y(high).toFixed(1)}L${px},${y(low).toFixed(1)}`;
  }
  if (d) svg.appendChild(svgElement("path", { d, fill: "none", stroke: "#1f3a5f", "stroke-width": 1, "vector-effect": "non-scaling-stroke" }, "signal"));
  svg.appendChild(svgElement("text", { x: 4, y: 14, "font-size": 12, fill: "#555" }, "scale")).textContent = `±${Math.round(peak)} µV`;
}

// Probabilities as steps over their windows, the threshold, seizures declared by alarms
// (shaded from onset to offset) and each alarm's detection time.
function drawProbability(windows, threshold, durationS, alarms) {
  const svg = $("probability");
  clear(svg);
  const { width, height } = box(svg);
  const x = (seconds) => Math.max(0, Math.min(width, (seconds / durationS) * width));
  const y = (p) => height - 4 - p * (height - 8);
  for (const alarm of alarms) {
    const end = alarm.offset_s === undefined ? durationS : alarm.offset_s;
    svg.appendChild(svgElement("rect", {
      x: x(alarm.onset_s), y: 0, width: Math.max(1, x(end) - x(alarm.onset_s)), height, fill: "#b00020", "fill-opacity": 0.12,
    }, "seizure-span"));
    svg.appendChild(svgElement("line", {
      x1: x(alarm.detected_s), x2: x(alarm.detected_s), y1: 0, y2: height, stroke: "#b00020", "stroke-width": 2, "vector-effect": "non-scaling-stroke",
    }, "alarm"));
  }
  let d = "";
  for (const w of windows) {
    // Overlapping windows (a hop shorter than the window) are drawn at their hop's span.
    const from = w.end_s - (w.hop_s || w.end_s - w.start_s);
    d += `${d ? "L" : "M"}${x(from).toFixed(1)},${y(w.probability).toFixed(1)}L${x(w.end_s).toFixed(1)},${y(w.probability).toFixed(1)}`;
  }
  if (d) svg.appendChild(svgElement("path", { d, fill: "none", stroke: "#0a7d3b", "stroke-width": 2, "vector-effect": "non-scaling-stroke" }, "probability"));
  for (const w of windows) {
    if (w.ood && w.ood.flagged) {
      svg.appendChild(svgElement("circle", { cx: x(w.end_s), cy: 8, r: 3, fill: "#8a5a00" }, "ood"));
    }
  }
  svg.appendChild(svgElement("line", {
    x1: 0, x2: width, y1: y(threshold), y2: y(threshold), stroke: "#444", "stroke-dasharray": "6 4", "vector-effect": "non-scaling-stroke",
  }, "threshold"));
  svg.appendChild(svgElement("text", { x: 4, y: Math.max(12, y(threshold) - 4), "font-size": 12, fill: "#444" }, "threshold-label")).textContent = `threshold ${threshold.toFixed(3)}`;
}

// ---------------------------------------------------------------- views

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

// On screen the service's own words only; the status code and error kind go to the console
// (for whoever debugs), not to the clinician.
function showError(e) {
  const detail = e.body && e.body.error ? ` (${e.status} ${e.body.error})` : "";
  setStatus(e.message, true);
  console.error(`seizure-ops: ${e.message}${detail}`);
}

// A probability in percent: whole percent, but never rounded to 0% or 100% when it is not,
// and with `digits` more where two figures compared on screen would otherwise read the same.
function percent(p, digits = 0) {
  const v = 100 * p;
  let text = v.toFixed(digits);
  if ((Number(text) === 0 && v > 0) || (Number(text) === 100 && v < 100)) text = v.toFixed(digits + 2);
  return `${text}%`;
}

// The digits that tell a score from the threshold it is compared with.
function digitsApart(a, b) {
  for (let digits = 0; digits < 4; digits++) if ((100 * a).toFixed(digits) !== (100 * b).toFixed(digits)) return digits;
  return 4;
}

function setProbabilityCaption(text) {
  $("probability-caption").textContent = text;
}

function showApp() {
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("logout").hidden = false;
  const user = $("user");
  user.hidden = false;
  user.textContent = page.tokens.username || "token user";
  loadModel();
  loadPatients();
}

function clearView() {
  page.patient = null;
  page.opening++;
  for (const id of ["trace", "probability"]) clear($(id));
  for (const id of ["summary", "alarms"]) $(id).replaceChildren();
  $("alarm-banner").hidden = true;
  $("start-stream").disabled = true;
  setStatus("");
}

function logOut(reason, isError = true) {
  // The session closes while the token still works; then nothing of the patient stays on a
  // shared screen for the next user.
  stopStream("logged out");
  const refresh = page.tokens && page.tokens.refresh;
  if (refresh && page.config.auth_url) authCall("/logout", { refresh_token: refresh }).catch(() => {});
  page.tokens = null;
  sessionStorage.removeItem("seizure-ops-tokens");
  clearView();
  $("app-view").hidden = true;
  $("logout").hidden = true;
  $("user").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = reason || "";
  // Logging out on purpose is not an error; a session that ended by itself is.
  $("login-error").className = isError ? "error" : "notice";
}

async function loadModel() {
  try {
    page.model = await api("/model-info");
    const version = page.model.version || page.model.model_version || "?";
    $("model").textContent = `model: ${page.model.name || "seizure-lstm"} v${version}`;
  } catch (e) {
    $("model").textContent = `model: unavailable (${e.message})`;
  }
}

async function loadPatients() {
  try {
    const list = await api("/patients");
    const options = $("patient-ids");
    options.replaceChildren(...list.patients.slice(0, 2000).map((id) => {
      const option = document.createElement("option");
      option.value = String(id);
      return option;
    }));
    if (!$("patient-id").value && list.patients.length) $("patient-id").placeholder = `e.g. ${list.patients[0]}`;
  } catch (e) {
    showError(e);
  }
}

// The trace, probabilities and verdict go as soon as another patient is asked for: a load that
// fails never leaves the previous patient's view under the new id. Alarms stay (they are
// records until acknowledged, each naming its patient).
function clearPatientView() {
  page.patient = null;
  for (const id of ["trace", "probability"]) clear($(id));
  $("summary").replaceChildren();
  $("start-stream").disabled = true;
  setProbabilityCaption("Seizure probability (open a patient)");
}

function failOpen(id, message) {
  clearPatientView();
  setStatus(`patient ${id} could not be opened: ${message}`, true);
}

async function openPatient(id) {
  stopStream("another patient opened");
  const opening = ++page.opening;
  clearPatientView();
  setStatus(`loading patient ${id}…`);
  try {
    const [signal, prediction] = await Promise.all([
      api(`/patients/${encodeURIComponent(id)}/recordings`),
      api(`/predict/${encodeURIComponent(id)}`),
    ]);
    if (opening !== page.opening) return; // another patient was asked for meanwhile
    const samples = new Float32Array(signal.recordings.reduce((n, r) => n + r.length, 0));
    let at = 0;
    for (const recording of signal.recordings) {
      samples.set(recording, at);
      at += recording.length;
    }
    const seconds = signal.samples_per_recording / signal.sampling_hz;
    page.patient = { id: signal.patient_id, signal: samples, hz: signal.sampling_hz, prediction };
    const windows = prediction.per_recording.map((r) => ({
      start_s: r.index * seconds, end_s: (r.index + 1) * seconds, probability: r.probability, ood: r.ood,
    }));
    const duration = samples.length / signal.sampling_hz;
    drawTrace(samples, samples.length, duration, signal.sampling_hz);
    drawProbability(windows, prediction.threshold, duration, []);
    showSummary(prediction, signal);
    $("start-stream").disabled = false;
    setProbabilityCaption(
      `Seizure probability of each of the ${signal.recordings.length} one-second recordings, and the window threshold ` +
        `${percent(prediction.threshold)} (dashed)`,
    );
    setStatus(`patient ${signal.patient_id}: ${signal.recordings.length} recordings of ${seconds.toFixed(2)} s each`);
  } catch (e) {
    if (opening === page.opening) {
      const detail = e.body && e.body.error ? ` (${e.status} ${e.body.error})` : "";
      failOpen(id, e.message);
      console.error(`seizure-ops: ${e.message}${detail}`);
    }
  }
}

function showSummary(prediction, signal) {
  const summary = $("summary");
  const verdict = document.createElement("span");
  verdict.className = prediction.prediction === "seizure" ? "seizure" : "non-seizure";
  verdict.textContent = prediction.prediction;
  const ood = prediction.out_of_distribution;
  const rule = {
    mean_probability: `the mean seizure probability of its ${prediction.recordings} one-second recordings`,
    positive_fraction: `the share of its ${prediction.recordings} one-second recordings at or above the window threshold`,
  }[prediction.patient_rule] || prediction.patient_rule.replace(/_/g, " ");
  const override = prediction.patient_threshold_source === "override" ? " (a threshold set by the service's operator)" : "";
  const apart = digitsApart(prediction.patient_score, prediction.patient_threshold);
  const parts = [
    document.createTextNode(`Patient ${signal.patient_id}: `),
    verdict,
    document.createTextNode(
      `. How: the patient's score is ${rule}, here ${percent(prediction.patient_score, apart)}; a patient scoring ` +
        `${percent(prediction.patient_threshold, apart)} or more is called seizure${override}. ` +
        `${prediction.epileptic_recordings.length} of ${prediction.recordings} recordings reach the window threshold ` +
        `${percent(prediction.threshold)}. Model v${prediction.model_version}.`,
    ),
  ];
  if (ood && ood.flagged_recordings.length) {
    const warning = document.createElement("span");
    warning.className = "ood";
    warning.textContent = ` ${ood.flagged_recordings.length} recording(s) unlike the training data: do not trust their answers.`;
    parts.push(warning);
  }
  summary.replaceChildren(...parts);
}

// ---------------------------------------------------------------- the live stream

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function alarmsOf(events) {
  const alarms = [];
  for (const event of events) {
    if (event.type === "seizure_onset") alarms.push({ onset_s: event.onset_s, detected_s: event.detected_s });
    if (event.type === "seizure_offset" && alarms.length) alarms[alarms.length - 1].offset_s = event.offset_s;
  }
  return alarms;
}

function showEvents(stream, events) {
  const list = $("alarms");
  for (const event of events) {
    const item = document.createElement("li");
    if (event.type === "seizure_onset") {
      item.className = "onset";
      item.textContent = `patient ${stream.patient.id}: seizure onset ≈ ${event.onset_s.toFixed(1)} s, alarm at ${event.detected_s.toFixed(1)} s ` +
        `(latency ${(event.detected_s - event.onset_s).toFixed(1)} s, probability ${Number(event.probability).toFixed(3)})`;
      const banner = $("alarm-banner");
      $("alarm-text").textContent = `SEIZURE ALARM: patient ${stream.patient.id}, onset ≈ ${event.onset_s.toFixed(1)} s`;
      banner.hidden = false;
    } else if (event.type === "seizure_offset") {
      item.className = "offset";
      // The banner stays until someone acknowledges it: a nurse who looked away still sees it.
      item.textContent = `patient ${stream.patient.id}: seizure end ≈ ${event.offset_s.toFixed(1)} s (declared at ${event.detected_s.toFixed(1)} s)`;
    } else {
      item.textContent = JSON.stringify(event);
    }
    list.appendChild(item);
  }
}

function redrawStream(stream) {
  const { signal, hz } = stream.patient;
  const duration = signal.length / hz;
  drawTrace(signal, stream.sent, duration, hz);
  drawProbability(stream.windows, stream.threshold, duration, alarmsOf(stream.events));
}

// One push, retried with the same offset while the service is busy (429, 503: after its
// Retry-After) or unreachable; a 409 means an earlier try did land: the session's count says
// where it is. Gives up after about a minute.
async function pushSamples(stream, samples) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await api(`/monitor/sessions/${stream.id}/samples`, {
        method: "POST",
        body: JSON.stringify({ samples, offset: stream.sent }),
      });
    } catch (e) {
      if (stream.stopped) throw e;
      if (e.status === 409) {
        const info = await api(`/monitor/sessions/${stream.id}`);
        if (info.samples_seen === stream.sent + samples.length) return { windows: [], events: [], landed: true };
        throw e;
      }
      const transient = e.status === undefined || e.status === 429 || e.status === 503;
      if (!transient || attempt >= 20) throw e;
      const wait = e.retryAfter || Math.min(5, 0.25 * 2 ** attempt);
      if (page.stream === stream) setStatus(`the service is busy (${e.message}); retrying in ${wait} s`);
      await sleep(wait * 1000);
      if (stream.stopped) throw e;
    }
  }
}

async function startStream() {
  if (!page.patient || page.stream) return;
  const k = Number($("alarm-k").value);
  const n = Number($("alarm-n").value);
  const speed = Number($("speed").value);
  // Taken before the first await: a second click, or another patient opened meanwhile,
  // finds it (and stops it) instead of starting a second stream.
  const stream = { id: null, patient: page.patient, stopped: false, sent: 0, windows: [], events: [], threshold: 0.5 };
  page.stream = stream;
  $("start-stream").disabled = true;
  $("stop-stream").disabled = false;
  let session;
  try {
    session = await api("/monitor/sessions", { method: "POST", body: JSON.stringify({ alarm_k: k, alarm_n: n, replay: true }) });
  } catch (e) {
    const current = page.stream === stream;
    if (current) page.stream = null;
    $("start-stream").disabled = !page.patient;
    $("stop-stream").disabled = true;
    if (current && !stream.stopped) showError(e);
    return;
  }
  stream.id = session.session_id;
  stream.threshold = session.threshold;
  if (stream.stopped) {
    // Stopped while the session was opening: close it.
    api(`/monitor/sessions/${stream.id}`, { method: "DELETE" }).catch(() => {});
    return;
  }
  const hopS = session.hop / session.sampling_hz;
  const every = (hopS * 1000) / speed;
  const started = performance.now();
  const signal = stream.patient.signal;
  const hopText = `${hopS.toFixed(2)} s`;
  const rule = session.alarm_k === 1
    ? "a window"
    : session.alarm_k === session.alarm_n
      ? `${session.alarm_k} consecutive windows`
      : `${session.alarm_k} of the last ${session.alarm_n} windows`;
  const windowText = `${(session.window_samples / session.sampling_hz).toFixed(2)} s`;
  setProbabilityCaption(
    `Seizure probability of each sliding window (${windowText} long, a new one every ${hopText}) during the replay, ` +
      `the threshold ${percent(session.threshold)} (dashed) and alarms (red)`,
  );
  setStatus(`replaying patient ${stream.patient.id} at ${speed}x real time: alarm when ${rule} (one every ${hopText}) ` +
    `${session.alarm_k === 1 ? "reaches" : "reach"} ${percent(session.threshold)} seizure probability (model v${session.model_version})`);
  try {
    for (let push = 0; !stream.stopped && stream.sent < signal.length; push++) {
      const samples = Array.from(signal.subarray(stream.sent, stream.sent + session.hop));
      const answer = await pushSamples(stream, samples);
      // Alarms are records, each naming its patient: one that a push raised is shown even
      // when another patient was opened while it was on its way.
      stream.events.push(...answer.events);
      showEvents(stream, answer.events);
      if (stream.stopped) break;
      stream.sent += samples.length;
      for (const w of answer.windows) stream.windows.push({ ...w, hop_s: hopS });
      redrawStream(stream);
      await sleep(Math.max(0, started + (push + 1) * every - performance.now()));
    }
    if (!stream.stopped) await finishStream(stream, "the recording ended");
  } catch (e) {
    // A stream stopped meanwhile (another patient, Stop, logout) says nothing over the view.
    if (stream.stopped) return;
    if (e.body && e.body.error === "not_found") setStatus("the monitoring session ended (closed or expired)", true);
    else showError(e);
    await finishStream(stream, "a push failed", false);
  }
}

async function finishStream(stream, why, report = true) {
  if (stream.finished) return;
  stream.finished = true;
  stream.stopped = true;
  if (page.stream === stream) page.stream = null;
  $("start-stream").disabled = !page.patient;
  $("stop-stream").disabled = true;
  if (!stream.id) return; // still opening: startStream closes it
  // What the view shows now: after the DELETE, this stream speaks only if it still does
  // (no other patient asked for, no logout, no newer stream).
  const opening = page.opening;
  const current = () => page.opening === opening && page.patient === stream.patient && !page.stream;
  try {
    const closed = await api(`/monitor/sessions/${stream.id}`, { method: "DELETE" });
    stream.events.push(...closed.events);
    showEvents(stream, closed.events);
    if (current()) redrawStream(stream);
  } catch (e) {
    if (e.status !== 404 && report && current()) showError(e);
  }
  const onsets = stream.events.filter((e) => e.type === "seizure_onset").length;
  if (report && current()) {
    setStatus(`the replay of patient ${stream.patient.id} ended (${why}): ${stream.windows.length} windows scored, ${onsets} alarm(s)`);
  }
}

function stopStream(why) {
  if (page.stream) finishStream(page.stream, why);
}

// ---------------------------------------------------------------- start

async function start() {
  try {
    page.config = await (await fetch("/ui/config.json")).json();
  } catch {
    page.config = { auth_url: null };
  }
  if (!page.config.auth_url) {
    $("login-form").hidden = true;
    $("token-form").hidden = false;
  }
  const kept = sessionStorage.getItem("seizure-ops-tokens");
  if (kept) {
    try {
      page.tokens = JSON.parse(kept);
    } catch {
      sessionStorage.removeItem("seizure-ops-tokens");
    }
  }
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("login-error").textContent = "";
    $("login-button").disabled = true;
    const username = $("username").value;
    try {
      keepTokens(await authCall("/login", { username, password: $("password").value }), username);
      $("password").value = "";
      showApp();
    } catch (e) {
      $("login-error").textContent = e.status === 401 ? "wrong user or password" : e.message;
      $("login-error").className = "error";
    } finally {
      $("login-button").disabled = false;
    }
  });
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    keepTokens({ access_token: $("token").value.trim() }, null);
    showApp();
  });
  $("logout").addEventListener("click", () => logOut("logged out", false));
  $("patient-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("patient-id").value.trim();
    if (!/^\d+$/.test(id)) {
      stopStream("another patient asked for");
      page.opening++;
      failOpen(id, "a patient id is a positive integer");
      return;
    }
    openPatient(id);
  });
  $("stream-form").addEventListener("submit", (event) => {
    event.preventDefault();
    startStream();
  });
  $("stop-stream").addEventListener("click", () => stopStream("stopped"));
  $("acknowledge").addEventListener("click", () => {
    $("alarm-banner").hidden = true;
  });
  if (page.tokens) showApp();
}

start();
