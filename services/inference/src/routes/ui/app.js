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
  drawn: { trace: null, probability: null }, // what each plot shows, redrawn on resize
  verdicts: null, // GET /patients/verdicts
  openAlarms: [], // GET /alarms: the server's records, newest first
  unrecordedAlarm: null, // an alarm past the quotas, without a record: the banner's text
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

// Plots are drawn in the SVG's own CSS pixels (its viewBox set to its size at each draw,
// redrawn when the window resizes), so text and lines are never stretched.
const MARGIN = { left: 56, right: 10, top: 8, bottom: 22 };

function frame(svg) {
  const width = Math.max(240, Math.round(svg.clientWidth || 1000));
  const height = Math.max(80, Math.round(svg.clientHeight || 160));
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  return { width, height, left: MARGIN.left, right: width - MARGIN.right, top: MARGIN.top, bottom: height - MARGIN.bottom };
}

// 1, 2 or 5 times a power of ten: about `ticks` steps over `span`.
function niceStep(span, ticks) {
  const raw = span / Math.max(1, ticks);
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

function label(svg, x, y, text, anchor = "middle", className = "tick-label") {
  svg.appendChild(svgElement("text", { x, y, "text-anchor": anchor }, className)).textContent = text;
}

// Seconds along the bottom, with a faint grid line at each tick.
function timeAxis(svg, f, durationS) {
  if (!(durationS > 0 && Number.isFinite(durationS))) durationS = 1; // nothing to show: no endless ticks
  const x = (t) => f.left + (t / durationS) * (f.right - f.left);
  const step = niceStep(durationS, Math.max(2, Math.floor((f.right - f.left) / 80)));
  for (let i = 0; i * step <= durationS + 1e-9; i++) {
    const t = i * step;
    svg.appendChild(svgElement("line", { x1: x(t), x2: x(t), y1: f.top, y2: f.bottom }, "grid"));
    label(svg, x(t), f.bottom + 15, `${Number(t.toFixed(3))} s`, i === 0 ? "start" : "middle", "tick-label time");
  }
  svg.appendChild(svgElement("rect", { x: f.left, y: f.top, width: f.right - f.left, height: f.bottom - f.top, fill: "none" }, "axis"));
  return x;
}

// Spans of windows flagged as unlike the training data, shaded amber.
function oodSpans(svg, f, windows, x) {
  for (const w of windows || []) {
    if (!(w.ood && w.ood.flagged)) continue;
    const from = w.end_s - (w.hop_s || w.end_s - w.start_s);
    const rect = svgElement("rect", {
      x: x(from), y: f.top, width: Math.max(1, x(w.end_s) - x(from)), height: f.bottom - f.top, fill: "#d08a00", "fill-opacity": 0.18,
    }, "ood-span");
    rect.appendChild(svgElement("title", {})).textContent = "unlike the training data: do not trust this part";
    svg.appendChild(rect);
  }
}

// The EEG at a fixed sensitivity (the select: µV at the top and bottom edges, the same for
// every patient), a min/max envelope per pixel column so a long signal keeps its spikes.
function drawTrace(signal, shown, durationS, hz, windows) {
  page.drawn.trace = [signal, shown, durationS, hz, windows];
  const svg = $("trace");
  clear(svg);
  const f = frame(svg);
  const sensitivity = Number($("sensitivity").value) || 500;
  const middle = (f.top + f.bottom) / 2;
  const half = (f.bottom - f.top) / 2;
  let clipped = 0;
  const y = (v) => {
    if (Math.abs(v) > sensitivity) clipped++;
    return middle - Math.max(-1, Math.min(1, v / sensitivity)) * half;
  };
  const x = timeAxis(svg, f, durationS);
  oodSpans(svg, f, windows, x);
  for (const v of [sensitivity, sensitivity / 2, 0, -sensitivity / 2, -sensitivity]) {
    const at = middle - (v / sensitivity) * half;
    if (v !== 0) svg.appendChild(svgElement("line", { x1: f.left, x2: f.right, y1: at, y2: at }, "grid"));
    label(svg, f.left - 4, at + 4, `${v > 0 ? "+" : v < 0 ? "−" : ""}${Math.abs(v)}`, "end", "tick-label amplitude");
  }
  label(svg, 4, f.top + 10, "µV", "start", "unit");
  svg.appendChild(svgElement("line", { x1: f.left, x2: f.right, y1: middle, y2: middle, stroke: "#b8bec6" }, "zero"));
  const columns = Math.min(Math.round(f.right - f.left), shown);
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
  if (d) svg.appendChild(svgElement("path", { d, fill: "none", stroke: "#1f3a5f", "stroke-width": 1 }, "signal"));
  const flagged = (windows || []).some((w) => w.ood && w.ood.flagged);
  $("trace-caption").textContent = "EEG in µV against time in seconds" +
    (clipped ? `; peaks beyond ±${sensitivity} µV are cut at the edge (choose a larger scale to see them)` : "") +
    (flagged ? "; amber: unlike the training data, do not trust the answers there" : "");
}

// Probabilities (0 to 1, inside the frame) as steps over their windows, the threshold,
// seizures declared by alarms (shaded from onset to offset) and each alarm's detection time.
function drawProbability(windows, threshold, durationS, alarms) {
  page.drawn.probability = [windows, threshold, durationS, alarms];
  const svg = $("probability");
  clear(svg);
  const f = frame(svg);
  const x = timeAxis(svg, f, durationS);
  const clampX = (seconds) => Math.max(f.left, Math.min(f.right, x(seconds)));
  const y = (p) => f.bottom - p * (f.bottom - f.top);
  for (const p of [0, 0.5, 1]) {
    if (p > 0 && p < 1) svg.appendChild(svgElement("line", { x1: f.left, x2: f.right, y1: y(p), y2: y(p) }, "grid"));
    label(svg, f.left - 4, y(p) + 4, `${p * 100}%`, "end", "tick-label probability-tick");
  }
  oodSpans(svg, f, windows, x);
  for (const alarm of alarms) {
    const end = alarm.offset_s === undefined ? durationS : alarm.offset_s;
    svg.appendChild(svgElement("rect", {
      x: clampX(alarm.onset_s), y: f.top, width: Math.max(1, clampX(end) - clampX(alarm.onset_s)), height: f.bottom - f.top, fill: "#b00020", "fill-opacity": 0.12,
    }, "seizure-span"));
    svg.appendChild(svgElement("line", {
      x1: clampX(alarm.detected_s), x2: clampX(alarm.detected_s), y1: f.top, y2: f.bottom, stroke: "#b00020", "stroke-width": 2,
    }, "alarm"));
  }
  let d = "";
  for (const w of windows) {
    // Overlapping windows (a hop shorter than the window) are drawn at their hop's span.
    const from = w.end_s - (w.hop_s || w.end_s - w.start_s);
    d += `${d ? "L" : "M"}${clampX(from).toFixed(1)},${y(w.probability).toFixed(1)}L${clampX(w.end_s).toFixed(1)},${y(w.probability).toFixed(1)}`;
  }
  if (d) svg.appendChild(svgElement("path", { d, fill: "none", stroke: "#0a7d3b", "stroke-width": 2 }, "probability"));
  svg.appendChild(svgElement("line", {
    x1: f.left, x2: f.right, y1: y(threshold), y2: y(threshold), stroke: "#444", "stroke-dasharray": "6 4",
  }, "threshold"));
  label(svg, f.right - 4, Math.max(f.top + 11, y(threshold) - 4), `threshold ${percent(threshold)}`, "end", "threshold-label");
}

function redrawPlots() {
  if (page.drawn.trace) drawTrace(...page.drawn.trace);
  if (page.drawn.probability) drawProbability(...page.drawn.probability);
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
  loadAlarms();
  const kept = location.hash.match(/^#patient=(\d+)$/);
  if (kept) {
    $("patient-id").value = kept[1];
    openPatient(kept[1]);
  }
}

function clearView() {
  page.patient = null;
  page.opening++;
  page.drawn = { trace: null, probability: null };
  for (const id of ["trace", "probability"]) clear($(id));
  for (const id of ["summary", "alarms", "open-alarms", "acknowledged-alarms"]) $(id).replaceChildren();
  page.openAlarms = [];
  page.unrecordedAlarm = null;
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
  $("patient-list").replaceChildren();
  $("patient-list-note").textContent = "";
  history.replaceState(null, "", location.pathname + location.search);
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

// The visible patient list: each patient with the served model's call (computed once per
// model version on the server, not a new prediction per load); the plain ids if the calls
// cannot be had.
async function loadPatients() {
  let ids;
  try {
    page.verdicts = await api("/patients/verdicts");
    ids = page.verdicts.patients.map((p) => p.patient_id);
    const rule = {
      mean_probability: "mean seizure probability of their recordings",
      positive_fraction: "share of their recordings at or above the window threshold",
    }[page.verdicts.patient_rule] || page.verdicts.patient_rule.replace(/_/g, " ");
    $("patient-list-note").textContent = `Calls by model v${page.verdicts.model_version}: seizure when the ${rule} ` +
      `is ${percent(page.verdicts.patient_threshold)} or more.`;
    renderPatientList(page.verdicts.patients);
  } catch (e) {
    page.verdicts = null;
    try {
      ids = (await api("/patients")).patients;
      $("patient-list-note").textContent = `The model's calls are not available (${e.message}).`;
      renderPatientList(ids.map((patient_id) => ({ patient_id })));
    } catch (e2) {
      showError(e2);
      return;
    }
  }
  const options = $("patient-ids");
  options.replaceChildren(...ids.slice(0, 2000).map((id) => {
    const option = document.createElement("option");
    option.value = String(id);
    return option;
  }));
  if (!$("patient-id").value && ids.length) $("patient-id").placeholder = `e.g. ${ids[0]}`;
  markCurrentPatient(page.patient && page.patient.id);
}

function renderPatientList(patients) {
  const items = patients.slice(0, 2000).map((p) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.patient = String(p.patient_id);
    button.append(`Patient ${p.patient_id}`);
    if (p.prediction) {
      const call = document.createElement("span");
      call.className = `call-${p.prediction}`;
      call.textContent = `: ${p.prediction}`;
      button.append(call, ` (${percent(p.patient_score)})`);
    }
    if (p.recordings_out_of_distribution) {
      const ood = document.createElement("span");
      ood.className = "ood";
      ood.textContent = " unlike training";
      ood.title = `${p.recordings_out_of_distribution} recording(s) unlike the training data`;
      button.append(ood);
    }
    button.addEventListener("click", () => {
      $("patient-id").value = String(p.patient_id);
      openPatient(String(p.patient_id));
    });
    item.appendChild(button);
    return item;
  });
  $("patient-list").replaceChildren(...items);
}

function markCurrentPatient(id) {
  for (const button of $("patient-list").querySelectorAll("button")) {
    if (id !== null && id !== undefined && button.dataset.patient === String(id)) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

// The trace, probabilities and verdict go as soon as another patient is asked for: a load that
// fails never leaves the previous patient's view under the new id. Alarms stay (they are
// records until acknowledged, each naming its patient).
function clearPatientView() {
  page.patient = null;
  page.drawn = { trace: null, probability: null };
  for (const id of ["trace", "probability"]) clear($(id));
  markCurrentPatient(null);
  $("summary").replaceChildren();
  $("start-stream").disabled = true;
  setProbabilityCaption("Seizure probability (open a patient)");
}

function failOpen(id, message) {
  clearPatientView();
  history.replaceState(null, "", location.pathname + location.search);
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
    drawTrace(samples, samples.length, duration, signal.sampling_hz, windows);
    drawProbability(windows, prediction.threshold, duration, []);
    markCurrentPatient(signal.patient_id);
    // A reload opens this patient again.
    history.replaceState(null, "", `#patient=${signal.patient_id}`);
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

// ---------------------------------------------------------------- alarms as records

function clockTime(rfc3339) {
  const at = new Date(rfc3339);
  return Number.isNaN(at.getTime()) ? rfc3339 : at.toLocaleTimeString();
}

function alarmText(alarm) {
  const whose = alarm.patient_id === null || alarm.patient_id === undefined ? "a stream without a patient id" : `patient ${alarm.patient_id}`;
  return `${whose}${alarm.replay ? " (replay)" : ""}: seizure alarm raised at ${clockTime(alarm.raised_at)}, ` +
    `probability ${percent(alarm.probability)}`;
}

// The server's open alarms: the list with an Acknowledge button each, and the banner showing
// the newest (with how many more wait). A list that cannot be read leaves what is shown.
async function loadAlarms() {
  let list;
  try {
    list = await api("/alarms");
  } catch (e) {
    console.error(`seizure-ops: the alarm records could not be read: ${e.message}`);
    return;
  }
  if (!page.tokens) return;
  page.openAlarms = list.alarms;
  $("open-alarms").replaceChildren(...list.alarms.map((alarm) => {
    const item = document.createElement("li");
    item.dataset.alarm = alarm.alarm_id;
    item.append(alarmText(alarm));
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Acknowledge";
    button.addEventListener("click", () => acknowledgeAlarm(alarm.alarm_id));
    item.appendChild(button);
    return item;
  }));
  // Who acknowledged which alarm, and when, as the audit log recorded it.
  $("acknowledged-alarms").replaceChildren(...list.recently_acknowledged.map((done) => {
    const item = document.createElement("li");
    item.textContent = `${alarmText(done.alarm)}; acknowledged by ${done.acknowledged_by} at ${clockTime(done.acknowledged_at)}`;
    return item;
  }));
  const banner = $("alarm-banner");
  const newest = list.alarms[0];
  if (newest) {
    const more = list.alarms.length - 1;
    const patient = newest.patient_id === null || newest.patient_id === undefined ? "a stream" : `patient ${newest.patient_id}`;
    $("alarm-text").textContent = `SEIZURE ALARM: ${patient}${newest.replay ? " (replay)" : ""}, raised at ${clockTime(newest.raised_at)}` +
      (more ? ` (and ${more} more unacknowledged)` : "");
    banner.dataset.alarm = newest.alarm_id;
    banner.hidden = false;
  } else if (page.unrecordedAlarm) {
    $("alarm-text").textContent = page.unrecordedAlarm;
    delete banner.dataset.alarm;
    banner.hidden = false;
  } else {
    delete banner.dataset.alarm;
    banner.hidden = true;
  }
}

async function acknowledgeAlarm(id) {
  try {
    await api(`/alarms/${encodeURIComponent(id)}/acknowledge`, { method: "POST" });
  } catch (e) {
    // Acknowledged meanwhile (another clinician, another tab): the list says by whom.
    if (e.status !== 409) showError(e);
  }
  await loadAlarms();
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
      // Until the server's record is read (loadAlarms), Acknowledge only hides the banner.
      delete banner.dataset.alarm;
      // Keyboard focus goes to the alarm: Enter acknowledges it.
      $("acknowledge").focus();
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
  drawTrace(signal, stream.sent, duration, hz, stream.windows);
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
    session = await api("/monitor/sessions", {
      method: "POST",
      body: JSON.stringify({ alarm_k: k, alarm_n: n, replay: true, patient_id: Number(stream.patient.id) }),
    });
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
      if (answer.alarms_unrecorded) {
        // Past the hour's alarm quotas the server answers an alarm without a record of its
        // own: the banner keeps it until someone presses Acknowledge here.
        page.unrecordedAlarm = `SEIZURE ALARM: patient ${stream.patient.id} (replay; ${answer.alarms_unrecorded} over the hour's recorded alarms)`;
      }
      if (answer.events.some((e) => e.type === "seizure_onset")) loadAlarms();
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
  $("sensitivity").addEventListener("change", () => {
    if (page.drawn.trace) drawTrace(...page.drawn.trace);
  });
  let resizing = null;
  window.addEventListener("resize", () => {
    if (resizing) cancelAnimationFrame(resizing);
    resizing = requestAnimationFrame(redrawPlots);
  });
  $("acknowledge").addEventListener("click", () => {
    const id = $("alarm-banner").dataset.alarm;
    if (id) {
      acknowledgeAlarm(id);
    } else {
      // An alarm shown before (or without) its server record: seen, and the list says what
      // is still open.
      page.unrecordedAlarm = null;
      $("alarm-banner").hidden = true;
      loadAlarms();
    }
  });
  if (page.tokens) showApp();
}

start();
