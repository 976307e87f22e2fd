// Drives the bedside page (inference's /ui/) in headless Chromium as a user would, through
// playwright-core: a wrong password, the right one, an unknown patient, a real one (trace,
// probability and threshold drawn), then a replayed live stream until an alarm shows.
// Screenshots go to SHOTS. Prints what it saw as JSON on stdout; the Rust test judges it.
//
// Environment: PLAYWRIGHT_CORE (a node_modules directory), CHROMIUM, PAGE_URL, USERNAME,
// PASSWORD, PATIENT, UNKNOWN_PATIENT, SHOTS.
import { createRequire } from "node:module";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const require = createRequire(`${env("PLAYWRIGHT_CORE")}/`);
const { chromium } = require("playwright-core");

const seen = { console: [], failed_requests: [], steps: [] };
const step = (name, detail = {}) => seen.steps.push({ name, ...detail });

const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  // A network without internet: every host but the loopback one is unresolvable, so a page
  // that needed a CDN would show it.
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") seen.console.push(message.text());
  });
  page.on("pageerror", (error) => seen.console.push(`page error: ${error.message}`));
  page.on("requestfailed", (request) => seen.failed_requests.push(`${request.url()}: ${request.failure()?.errorText}`));
  const shot = async (name) => page.screenshot({ path: `${env("SHOTS")}/${name}.png`, fullPage: true });

  await page.goto(env("PAGE_URL"));
  await page.waitForSelector("#login-form:not([hidden])");
  // With UI_AUTH_URL set only the login form shows (the token form's `display: flex` once
  // overrode its `hidden`).
  step("login page", { token_form_hidden: await page.isHidden("#token-form") });
  await shot("1-login");

  // A clumsy user first.
  await page.fill("#username", env("USERNAME"));
  await page.fill("#password", "not-the-password");
  await page.click("#login-button");
  await page.waitForFunction(() => document.getElementById("login-error").textContent.length > 0);
  step("wrong password", { message: await page.textContent("#login-error"), app_hidden: await page.isHidden("#app-view") });

  await page.fill("#password", env("PASSWORD"));
  await page.click("#login-button");
  await page.waitForSelector("#app-view:not([hidden])");
  await page.waitForFunction(() => /v\d/.test(document.getElementById("model").textContent));
  step("logged in", { model: await page.textContent("#model"), user: await page.textContent("#user") });

  await page.fill("#patient-id", env("UNKNOWN_PATIENT"));
  await page.click("#open-patient");
  await page.waitForFunction(() => document.getElementById("status").className === "error");
  step("unknown patient", { status: await page.textContent("#status") });

  await page.fill("#patient-id", env("PATIENT"));
  await page.click("#open-patient");
  await page.waitForSelector("#trace path.signal");
  await page.waitForSelector("#probability path.probability");
  step("patient", {
    summary: await page.textContent("#summary"),
    status: await page.textContent("#status"),
    trace_points: await page.$eval("#trace path.signal", (p) => (p.getAttribute("d").match(/L/g) || []).length),
    threshold_drawn: (await page.$$("#probability line.threshold")).length,
    probability_path: await page.$eval("#probability path.probability", (p) => p.getAttribute("d").length),
    caption: await page.textContent("#probability-caption"),
    ood_spans: (await page.$$("#trace rect.ood-span")).length,
    time_ticks: await page.$$eval("#trace text.time", (t) => t.map((e) => e.textContent)),
    amplitude_ticks: await page.$$eval("#trace text.amplitude", (t) => t.map((e) => e.textContent)),
    probability_ticks: await page.$$eval("#probability text.probability-tick", (t) => t.map((e) => e.textContent)),
    // Drawn in the element's own pixels: nothing stretched.
    unstretched: await page.$$eval("svg#trace, svg#probability", (svgs) =>
      svgs.every((svg) => Math.abs(svg.viewBox.baseVal.width - svg.clientWidth) <= 1 && Math.abs(svg.viewBox.baseVal.height - svg.clientHeight) <= 1)),
    hash: await page.evaluate(() => location.hash),
    listed: await page.$$eval("#patient-list button", (b) => b.map((e) => e.textContent)),
    current: await page.$eval("#patient-list button[aria-current=true]", (b) => b.dataset.patient),
    list_note: await page.textContent("#patient-list-note"),
  });
  await shot("2-patient");
  // A fixed, selectable sensitivity: the same scale whatever the patient.
  await page.selectOption("#sensitivity", "2000");
  step("sensitivity", {
    amplitude_ticks: await page.$$eval("#trace text.amplitude", (t) => t.map((e) => e.textContent)),
  });
  await page.selectOption("#sensitivity", "500");
  // A reload keeps the open patient.
  await page.reload();
  await page.waitForSelector("#trace path.signal");
  step("reloaded", { input: await page.inputValue("#patient-id"), summary: await page.textContent("#summary"), hash: await page.evaluate(() => location.hash) });
  // The page at a laptop's 1280x720 and a tablet's 768x1024: no sideways scrolling, plots
  // redrawn at their new size.
  for (const [width, height] of [[1280, 720], [768, 1024]]) {
    await page.setViewportSize({ width, height });
    await page.waitForTimeout(300);
    step(`viewport ${width}x${height}`, {
      overflow: await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
      unstretched: await page.$$eval("svg#trace, svg#probability", (svgs) =>
        svgs.every((svg) => Math.abs(svg.viewBox.baseVal.width - svg.clientWidth) <= 1)),
      list_visible: await page.isVisible("#patient-list"),
    });
    await shot(`5-${width}x${height}`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  // The list opens a patient too.
  const other = await page.$eval("#patient-list li:nth-child(2) button", (b) => b.dataset.patient);
  await page.click("#patient-list li:nth-child(2) button");
  await page.waitForFunction((id) => document.getElementById("summary").textContent.startsWith(`Patient ${id}:`), other);
  step("opened from the list", { other, input: await page.inputValue("#patient-id"), current: await page.$eval("#patient-list button[aria-current=true]", (b) => b.dataset.patient) });
  step("no alarms yet", {
    empty_text: await page.$eval("#alarms", (list) => getComputedStyle(list, "::before").content),
  });

  // An unknown id after a real patient: the previous patient's trace and verdict go, and the
  // view names the id asked for (a number the store lacks, and not a number at all).
  for (const [name, id] of [["unknown after a patient", env("UNKNOWN_PATIENT")], ["zero after a patient", "0"], ["not a number after a patient", "abc"]]) {
    await page.fill("#patient-id", env("PATIENT"));
    await page.click("#open-patient");
    await page.waitForSelector("#trace path.signal");
    await page.fill("#patient-id", id);
    await page.click("#open-patient");
    await page.waitForFunction(() => document.getElementById("status").className === "error");
    step(name, {
      status: await page.textContent("#status"),
      input: await page.inputValue("#patient-id"),
      trace_left: await page.$$eval("#trace *", (e) => e.length),
      probability_left: await page.$$eval("#probability *", (e) => e.length),
      summary_left: await page.textContent("#summary"),
      stream_disabled: await page.isDisabled("#start-stream"),
    });
  }
  await shot("2b-unknown-after-patient");
  await page.fill("#patient-id", env("PATIENT"));
  await page.click("#open-patient");
  await page.waitForSelector("#trace path.signal");
  await page.waitForFunction(() => !document.getElementById("start-stream").disabled);

  // The replay, fast, with the most sensitive rule (the test model is tiny). Whether the
  // banner ever showed is recorded as it happens.
  await page.evaluate(() => {
    window.bannerShown = [];
    const banner = document.getElementById("alarm-banner");
    new MutationObserver(() => {
      if (!banner.hidden) window.bannerShown.push(banner.textContent);
    }).observe(banner, { attributes: true, childList: true, subtree: true, characterData: true });
    // The status while the replay runs (it is soon replaced by the end of the replay).
    window.replayStatus = null;
    const status = document.getElementById("status");
    new MutationObserver(() => {
      if (!window.replayStatus && status.textContent.startsWith("replaying")) window.replayStatus = status.textContent;
    }).observe(status, { childList: true, subtree: true, characterData: true });
  });
  await page.selectOption("#speed", "16");
  await page.fill("#alarm-k", "1");
  await page.fill("#alarm-n", "1");
  await page.click("#start-stream");
  await page.waitForSelector("#alarms li.onset", { timeout: 60000 });
  await page.waitForSelector("#probability line.alarm", { state: "attached", timeout: 5000 });
  step("alarm", {
    banner_shown: await page.evaluate(() => window.bannerShown),
    banner_visible: await page.isVisible("#alarm-banner"),
    alarm_lines: (await page.$$("#probability line.alarm")).length,
    caption: await page.textContent("#probability-caption"),
    status: await page.evaluate(() => window.replayStatus),
    first_alarm: await page.textContent("#alarms li.onset"),
    focused: await page.evaluate(() => document.activeElement && document.activeElement.id),
  });
  await shot("3-alarm");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("the replay of patient"), null, { timeout: 120000 });
  step("stream ended", {
    status: await page.textContent("#status"),
    alarms: await page.$$eval("#alarms li", (items) => items.map((i) => `${i.className}: ${i.textContent}`)),
  });
  await shot("4-stream-ended");
  // An unacknowledged alarm is a record: another patient opened (an unknown one, then a real
  // one) leaves the banner and the list as they were.
  const alarmsBefore = await page.$$eval("#alarms li", (items) => items.length);
  await page.fill("#patient-id", env("UNKNOWN_PATIENT"));
  await page.click("#open-patient");
  await page.waitForFunction(() => document.getElementById("status").className === "error");
  await page.fill("#patient-id", env("PATIENT"));
  await page.click("#open-patient");
  await page.waitForSelector("#trace path.signal");
  step("alarm kept across a switch", {
    banner_visible: await page.isVisible("#alarm-banner"),
    banner_text: await page.textContent("#alarm-text"),
    alarms_before: alarmsBefore,
    alarms_after: await page.$$eval("#alarms li", (items) => items.length),
    icon: await page.getAttribute("link[rel~=icon]", "href"),
  });
  // Alarms are records on the server: a reload shows them again.
  await page.waitForFunction(() => document.querySelectorAll("#open-alarms li").length > 0);
  const openBefore = await page.$$eval("#open-alarms li", (items) => items.length);
  await page.reload();
  await page.waitForSelector("#app-view:not([hidden])");
  await page.waitForFunction(() => document.querySelectorAll("#open-alarms li").length > 0);
  step("alarms after a reload", {
    open_before: openBefore,
    open_after: await page.$$eval("#open-alarms li", (items) => items.length),
    first: await page.textContent("#open-alarms li"),
    banner_visible: await page.isVisible("#alarm-banner"),
    banner_text: await page.textContent("#alarm-text"),
  });
  await shot("6-open-alarms");
  // The banner stays up after the seizure ends, until every alarm is acknowledged: each
  // press of its button acknowledges the alarm it shows.
  const stillUp = await page.isVisible("#alarm-banner");
  let presses = 0;
  while (await page.isVisible("#alarm-banner") && presses < 500) {
    const shown = await page.getAttribute("#alarm-banner", "data-alarm");
    await page.click("#acknowledge");
    await page.waitForFunction((id) => document.getElementById("alarm-banner").dataset.alarm !== id || document.getElementById("alarm-banner").hidden, shown);
    presses++;
  }
  step("acknowledged", {
    still_up_after_end: stillUp,
    hidden_after: await page.isHidden("#alarm-banner"),
    presses,
    open_left: await page.$$eval("#open-alarms li", (items) => items.length),
    acknowledged: await page.$$eval("#acknowledged-alarms li", (items) => items.map((i) => i.textContent)),
  });
  await page.click("#acknowledged-box summary");
  await shot("7-acknowledged");

  const loggedOut = page.waitForResponse((r) => r.url().endsWith("/logout"));
  await page.click("#logout");
  const logout = await loggedOut;
  await page.waitForSelector("#login-form:not([hidden])");
  step("logged out", {
    logout_status: logout.status(),
    stored_tokens: await page.evaluate(() => sessionStorage.getItem("seizure-ops-tokens")),
    trace_left: await page.$$eval("#trace *", (e) => e.length),
    summary_left: await page.textContent("#summary"),
    message: await page.textContent("#login-error"),
    message_class: await page.getAttribute("#login-error", "class"),
    hash: await page.evaluate(() => location.hash),
    listed: (await page.$$("#patient-list li")).length,
  });
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
