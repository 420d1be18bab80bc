// console.js - drives the web console of a running daemon in headless
// Chromium (playwright-core with Debian's /usr/bin/chromium) and checks
// what it shows against the daemon's API.
//
//   node console.js --url http://127.0.0.1:PORT --token TOKEN \
//                   [--chromium /usr/bin/chromium] [--screenshot FILE]
//
// The daemon must have http.auth_token = TOKEN, MQTT and CoAP off, an
// empty store and one S3 sink "archive" whose endpoint refuses connections
// (its backlog grows once a segment is sealed). Prints "ok - ..." per
// check; exits 1 at the first failed check, with what was expected and seen.
"use strict";

const path = require("path");
const fs = require("fs");

function arg(name, dflt) {
  const i = process.argv.indexOf("--" + name);
  return i > 0 ? process.argv[i + 1] : dflt;
}

const URL_BASE = arg("url");
const TOKEN = arg("token");
const CHROMIUM = arg("chromium", "/usr/bin/chromium");
const SHOT = arg("screenshot", "");
const JS = path.join(process.env.NEOEDGE_SRC || path.join(__dirname, "../../.."), "tests/js");
const { chromium } = require(path.join(JS, "node_modules/playwright-core"));

const WAIT_MS = 15000; // for anything the page shows after a poll (every 2 s)
const N1 = 20, N2 = 30; // points written in two batches
const BASE_MS = Date.now() - 10 * 60 * 1000; // written ten minutes back, 1 s apart

let checks = 0;
function ok(what) {
  checks++;
  console.log("ok - " + what);
}
function fail(what) {
  console.error("FAIL: " + what);
  process.exit(1);
}
function expectEq(what, got, want) {
  if (got !== want) fail(what + ": got " + JSON.stringify(got) + ", want " + JSON.stringify(want));
  ok(what);
}

async function api(p, opts) {
  const o = Object.assign({ headers: {} }, opts || {});
  o.headers.Authorization = "Token " + TOKEN;
  const r = await fetch(URL_BASE + p, o);
  return { status: r.status, text: await r.text() };
}

// neoedge_points_accepted_total{source="http"} from /metrics.
async function acceptedHttp() {
  const r = await api("/metrics");
  const m = /^neoedge_points_accepted_total\{source="http"\} (\S+)$/m.exec(r.text);
  return m ? Number(m[1]) : 0;
}

// Line protocol for points i in [from, to): temp = 15 + i/4 (exact in
// binary), hum = 30 + i.
function lines(from, to) {
  let out = "";
  for (let i = from; i < to; i++)
    out += `weather,site=lab temp=${15 + i / 4},hum=${30 + i}i ${(BASE_MS + i * 1000) * 1e6}\n`;
  return out;
}

async function write(from, to) {
  const r = await api("/write?db=iot", { method: "POST", body: lines(from, to) });
  expectEq(`POST /write of points ${from}..${to - 1}`, r.status, 204);
}

async function waitText(page, selector, want, what) {
  try {
    await page.waitForFunction(([sel, w]) => {
      const e = document.querySelector(sel);
      return e && e.textContent.trim() === w;
    }, [selector, want], { timeout: WAIT_MS });
  } catch (e) {
    const got = await page.$eval(selector, (e) => e.textContent.trim()).catch(() => "(absent)");
    fail(`${what}: ${selector} shows ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
  ok(what);
}

async function waitVisible(page, selector, what) {
  try {
    await page.waitForSelector(selector, { state: "visible", timeout: WAIT_MS });
  } catch (e) {
    fail(what + ": " + selector + " not visible");
  }
  ok(what);
}

async function setToken(page, t) {
  await page.fill("#token-input", t);
  await page.click("#token-save");
}

async function runQuery(page, q) {
  await page.fill("#q-input", q);
  await page.click("#q-run");
}

async function checkHealthAndAuth(page) {
  await page.goto(URL_BASE + "/");
  expectEq("/ redirects to the console", new URL(page.url()).pathname, "/console");
  const health = JSON.parse((await api("/health")).text);
  await waitText(page, "#health-badge", health.status, "health badge shows /health's status");
  expectEq("the badge is green", await page.$eval("#health-badge", (e) => e.className),
           "badge " + health.status);
  await waitText(page, "[data-check=store] .badge", "ok", "the store check is listed");

  // No token yet: the page says the node wants one.
  await waitVisible(page, "#auth-panel", "without a token the page asks for one");
  await waitText(page, "#auth-error", "This node asks for an auth token.", "it says why");

  await setToken(page, "not-the-token");
  await page.waitForFunction(() => /refused/.test(document.getElementById("auth-error").textContent),
                             null, { timeout: WAIT_MS }).catch(() => fail("a wrong token shows no error"));
  ok("a wrong token shows an error: " + (await page.textContent("#auth-error")).trim());
  expectEq("no node figures with a wrong token", await page.textContent("#node-name"), "-");

  await setToken(page, TOKEN);
  await page.waitForSelector("#auth-panel", { state: "hidden", timeout: WAIT_MS })
    .catch(() => fail("the right token still shows the auth error"));
  ok("the right token clears the error");
  const st = JSON.parse((await api("/api/v1/status")).text);
  await waitText(page, "#node-name", st.node, "node name as /api/v1/status says");
  await waitText(page, "#version", st.build, "version as /api/v1/status says");
  await waitText(page, "#role", "gateway", "role");
}

async function checkIngest(page) {
  await waitText(page, "tr[data-source=http] .points", "0", "http ingest starts at 0 points");
  await write(0, N1);
  await waitText(page, "tr[data-source=http] .points", String(N1), "the http counter moves");
  await write(N1, N1 + N2);
  await waitText(page, "tr[data-source=http] .points", String(N1 + N2), "and moves again");
  await waitText(page, "tr[data-source=http] .values", String(2 * (N1 + N2)),
                 "values count both fields");
  expectEq("the page shows what /metrics says", String(await acceptedHttp()),
           await page.textContent("tr[data-source=http] .points"));
  const rate = (await page.textContent("tr[data-source=http] .rate")).trim();
  if (!/^[0-9][0-9,.]*$/.test(rate)) fail("the rate cell shows no number: " + rate);
  ok("a rate is shown (" + rate + " points/s)");
  await waitText(page, "[data-figure='points written']", String(N1 + N2),
                 "store: points written");
  await waitText(page, "[data-figure=series]", "1", "store: one series");
  await waitText(page, "[data-figure='disk budget']", "none", "store: no disk budget");

  // A point the store refuses (a field changing type) shows up as rejected.
  const bad = `weather,site=lab temp="warm" ${(BASE_MS + 5000) * 1e6}\n`;
  const r = await api("/write?db=iot", { method: "POST", body: bad });
  if (r.status < 400) fail("a type conflict was accepted: HTTP " + r.status);
  await page.waitForFunction(() => document.querySelector("#rejected-table tbody tr[data-reason]"),
                             null, { timeout: WAIT_MS })
    .catch(() => fail("the rejected point is not listed"));
  ok("rejected points are listed: " +
     (await page.innerText("#rejected-table tbody tr[data-reason]")).replace(/\s+/g, " ").trim());
}

// The sink: a sealed segment it cannot deliver is its backlog.
async function checkSinks(page) {
  const r = await api("/api/v1/flush", { method: "POST" });
  expectEq("POST /api/v1/flush", r.status, 204);
  await waitVisible(page, "#sinks-card", "the sinks card appears");
  await waitText(page, "td[data-sink=archive][data-col='@type']", "s3", "the sink's type");
  await waitText(page, "td[data-sink=archive][data-col=backlog_segments]", "1",
                 "the undelivered segment is its backlog");
  await waitText(page, "[data-figure=segments]", "1", "store: the sealed segment");
  const cell = "td[data-sink=archive][data-col='errors_total connect']";
  await page.waitForFunction((sel) => {
    const e = document.querySelector(sel);
    return e && Number(e.textContent) >= 1;
  }, cell, { timeout: WAIT_MS }).catch(() => fail("the failed deliveries are not counted"));
  const metrics = (await api("/metrics")).text;
  const m = /^neoedge_sink_errors_total\{sink="archive",type="s3",kind="connect"\} (\S+)$/m.exec(metrics);
  if (!m || Number(m[1]) < Number(await page.textContent(cell)))
    fail("/metrics has fewer connect errors than the page: " + (m && m[1]));
  ok("connect errors shown as /metrics counts them (" + (await page.textContent(cell)) + ")");
}

async function checkQuery(page, shot) {
  await page.fill("#q-db", "iot");
  await runQuery(page, "SELECT temp, hum FROM weather WHERE site = 'lab'");
  await waitText(page, "#q-summary", `${N1 + N2} rows, 2 lines`, "the query returns every point");
  const lens = await page.$$eval("#q-chart svg path.series", (ps) => ps.map((p) => p.dataset.points));
  expectEq("the chart draws temp and hum with every point", JSON.stringify(lens),
           JSON.stringify([String(N1 + N2), String(N1 + N2)]));
  const box = await page.$eval("#q-chart svg", (s) => s.getBoundingClientRect().width);
  if (!(box > 300)) fail("the chart has no width: " + box);
  ok("the chart is rendered (" + Math.round(box) + " px wide)");
  if (shot) {
    fs.mkdirSync(path.dirname(shot), { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
    ok("screenshot saved to " + shot);
  }

  await page.click("#view-table");
  const rows = await page.$$eval("#q-table table tbody tr",
                                 (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  expectEq("the table has a row per point", rows.length, N1 + N2);
  const header = await page.$$eval("#q-table table thead th", (ths) => ths.map((t) => t.textContent));
  expectEq("table columns", JSON.stringify(header), JSON.stringify(["time", "temp", "hum"]));
  for (let i = 0; i < N1 + N2; i++) {
    const want = [new Date(BASE_MS + i * 1000).toISOString(), String(15 + i / 4), String(30 + i)];
    if (JSON.stringify(rows[i]) !== JSON.stringify(want))
      fail(`table row ${i}: got ${JSON.stringify(rows[i])}, want ${JSON.stringify(want)}`);
  }
  ok("the table shows the written times and values");

  const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#q-csv")]);
  const csv = fs.readFileSync(await dl.path(), "utf8").trim().split("\n");
  expectEq("CSV header", csv[0], "name,tags,time,temp,hum");
  expectEq("CSV rows", csv.length - 1, N1 + N2);
  expectEq("CSV first row", csv[1],
           `weather,,${new Date(BASE_MS).toISOString()},15,30`);

  await runQuery(page, "SELEC temp FROM weather");
  await page.waitForSelector("#q-error", { state: "visible", timeout: WAIT_MS })
    .catch(() => fail("a syntax error shows no error"));
  const perr = await page.textContent("#q-error");
  if (!/error parsing query/.test(perr)) fail("syntax error text: " + perr);
  ok("a syntax error is shown: " + perr.trim());

  await setToken(page, "stale-token");
  await runQuery(page, "SELECT temp FROM weather");
  await page.waitForFunction(() => /authorization failed/.test(
    document.getElementById("q-error").textContent), null, { timeout: WAIT_MS })
    .catch(() => fail("a query with a wrong token shows no error"));
  ok("a query with a wrong token shows: " + (await page.textContent("#q-error")).trim());
}

async function main() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 },
                                           acceptDownloads: true });
    const page = await ctx.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await checkHealthAndAuth(page);
    await checkIngest(page);
    await checkSinks(page);
    await checkQuery(page, SHOT);
    expectEq("no script errors in the page", errors.join("; "), "");
    // Everything came from the daemon itself: the page loads nothing else.
    const foreign = await page.evaluate(() => performance.getEntriesByType("resource")
      .map((e) => e.name).filter((n) => !n.startsWith(location.origin) && !n.startsWith("blob:")));
    expectEq("no request leaves the daemon's origin", JSON.stringify(foreign), "[]");
  } finally {
    await browser.close();
  }
  console.log(`all ${checks} browser checks passed`);
}

setTimeout(() => fail("timed out after 90 s"), 90000).unref();
main().catch((e) => fail(e.stack || String(e)));
