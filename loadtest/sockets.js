// The light socket carrier of `live-server loadtest --profile broadcast`: N viewers of the
// live room on /live over websocket, each with its own viewer token, held in one Node
// process (socket.io-client) while locust drives the HTTP mix.
//
//   node loadtest/sockets.js --url http://127.0.0.1:8080 --room r_demo --viewers 10000 \
//     --out carrier.json [--concurrency 200] [--mint-concurrency 32] [--max-seconds 900]
//
// 1. mints the viewers: POST /api/v1/rooms/{room}/viewers, one external id each;
// 2. connects them (at most --concurrency handshakes in flight), measuring each connect;
// 3. prints JSON lines on stdout: {"phase":"minted",...}, {"phase":"connected",...};
// 4. holds them, recording for every /live event with a `ts` its delivery latency
//    (receive time - ts, ms) per event name and per second, and for every room broadcast
//    (its `offset`) how many of the sockets connected at the time received it (lost);
// 5. when stdin closes (or SIGTERM/SIGINT, or --max-seconds), writes the report to --out
//    and closes the sockets.
//
// socket.io-client comes from NODE_PATH or bench/fanout/node_modules
// (`npm ci --prefix bench/fanout`).
"use strict";

const fs = require("fs");
const http = require("http");
const path = require("path");

function loadClient() {
  const tried = [];
  for (const where of ["socket.io-client",
    path.join(__dirname, "..", "bench", "fanout", "node_modules", "socket.io-client")]) {
    try {
      return require(where).io;
    } catch (err) {
      tried.push(`${where}: ${err.code || err.message}`);
    }
  }
  process.stderr.write(
    "sockets.js: socket.io-client not found; install it with `npm ci --prefix bench/fanout`\n" +
    tried.join("\n") + "\n");
  process.exit(3);
}

function options(argv) {
  const out = { concurrency: 200, "mint-concurrency": 32, "max-seconds": 1800 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    out[key] = argv[i + 1];
  }
  for (const k of ["url", "room", "viewers", "out"]) {
    if (out[k] === undefined) {
      process.stderr.write(`sockets.js: --${k} is required\n`);
      process.exit(2);
    }
  }
  return out;
}

// --- latency histograms: 1 ms to 100 ms, 10 ms to 1 s, 100 ms to 120 s ----------------
const NB = 100 + 90 + 1190 + 1;
function bucket(ms) {
  if (ms <= 0) return 0;
  if (ms <= 100) return Math.ceil(ms);
  if (ms <= 1000) return 100 + Math.ceil((ms - 100) / 10);
  if (ms <= 120000) return 190 + Math.ceil((ms - 1000) / 100);
  return NB - 1;
}
function valueOf(i) {
  if (i <= 100) return i;
  if (i <= 190) return 100 + (i - 100) * 10;
  if (i < NB - 1) return 1000 + (i - 190) * 100;
  return 120000;
}
class Hist {
  constructor() { this.counts = new Uint32Array(NB); this.n = 0; this.max = 0; }
  add(ms) { this.counts[bucket(ms)] += 1; this.n += 1; if (ms > this.max) this.max = ms; }
  pct(q) {
    if (!this.n) return 0;
    const want = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let i = 0; i < NB; i++) {
      seen += this.counts[i];
      if (seen >= want) return Math.min(valueOf(i), this.max);  // a bucket's upper bound
    }
    return this.max;
  }
  summary() {
    return { count: this.n, p50: this.pct(0.5), p95: this.pct(0.95), p99: this.pct(0.99),
      max: this.max };
  }
}

const opts = options(process.argv.slice(2));
const io = loadClient();
const N = Number(opts.viewers);
const base = opts.url.replace(/\/$/, "");
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(opts["mint-concurrency"]) });

const state = {
  phase: "minting", minted: 0, mintFailed: 0, mintErrors: {}, connected: 0, refused: 0,
  refusedReasons: {}, connectedNow: 0, disconnects: 0, disconnectReasons: {},
  steadyAt: 0, stopAt: 0, duringConnect: 0, closing: false,
};
const connectHist = new Hist();
const events = new Map(); // event -> Hist
const seconds = new Map(); // epoch second -> Hist (every event)
const offsets = new Map(); // broadcast offset -> {first, expected, got}
const loopLag = new Hist();
const sockets = [];

function emitLine(obj) { process.stdout.write(JSON.stringify(obj) + "\n"); }

function mintOne(i) {
  const body = JSON.stringify({ external_id: `lt-carrier-${process.pid}-${i}` });
  return new Promise((resolve) => {
    const req = http.request(`${base}/api/v1/rooms/${opts.room}/viewers`, {
      method: "POST", agent,
      headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) },
    }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        if (res.statusCode === 201 || res.statusCode === 200) {
          try { resolve(JSON.parse(Buffer.concat(chunks).toString()).token); return; } catch { /* below */ }
        }
        state.mintErrors[res.statusCode] = (state.mintErrors[res.statusCode] || 0) + 1;
        resolve(null);
      });
    });
    req.on("error", (err) => {
      state.mintErrors[err.code || "error"] = (state.mintErrors[err.code || "error"] || 0) + 1;
      resolve(null);
    });
    req.setTimeout(30000, () => req.destroy(new Error("timeout")));
    req.end(body);
  });
}

async function pool(count, width, work) {
  let next = 0;
  const runners = [];
  for (let w = 0; w < Math.min(width, count); w++) {
    runners.push((async () => {
      while (next < count) await work(next++);
    })());
  }
  await Promise.all(runners);
}

function onEvent(event, data) {
  if (state.closing || !data || typeof data !== "object") return;
  const now = Date.now();
  if (!state.steadyAt) { state.duringConnect += 1; return; }
  if (typeof data.ts === "number") {
    const ms = now - data.ts;
    let h = events.get(event);
    if (!h) { h = new Hist(); events.set(event, h); }
    h.add(ms);
    const sec = Math.floor(now / 1000);
    let s = seconds.get(sec);
    if (!s) { s = new Hist(); seconds.set(sec, s); }
    s.add(ms);
  }
  if (typeof data.offset === "string") {
    let rec = offsets.get(data.offset);
    if (!rec) { rec = { first: now, expected: state.connectedNow, got: 0, event }; offsets.set(data.offset, rec); }
    rec.got += 1;
  }
}

function connectOne(token) {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = io(base + "/live", {
      transports: ["websocket"], auth: { token }, reconnection: false, forceNew: true,
      timeout: 30000,
    });
    let settled = false;
    s.on("connect", () => {
      if (settled) return;
      settled = true;
      connectHist.add(Date.now() - started);
      state.connected += 1;
      state.connectedNow += 1;
      sockets.push(s);
      resolve(true);
    });
    s.on("connect_error", (err) => {
      if (settled) return;
      settled = true;
      state.refused += 1;
      const why = (err && err.message) || "connect_error";
      state.refusedReasons[why] = (state.refusedReasons[why] || 0) + 1;
      s.close();
      resolve(false);
    });
    s.on("disconnect", (reason) => {
      if (state.closing) return;
      state.disconnects += 1;
      state.connectedNow -= 1;
      state.disconnectReasons[reason] = (state.disconnectReasons[reason] || 0) + 1;
    });
    s.onAny(onEvent);
  });
}

function report() {
  const from = state.steadyAt + 1000, to = state.stopAt - 5000;
  let tracked = 0, expected = 0, received = 0, lost = 0, extra = 0;
  const lostBy = {};
  for (const rec of offsets.values()) {
    if (rec.first < from || rec.first > to) continue;
    tracked += 1; expected += rec.expected; received += rec.got;
    if (rec.got < rec.expected) {
      lost += rec.expected - rec.got;
      lostBy[rec.event] = (lostBy[rec.event] || 0) + rec.expected - rec.got;
    } else extra += rec.got - rec.expected;
  }
  const timeline = [...seconds.entries()].sort((a, b) => a[0] - b[0]).map(([sec, h]) => (
    { t_epoch: sec, ...h.summary() }));
  return {
    viewers: N, minted: state.minted, mint_failed: state.mintFailed, mint_errors: state.mintErrors,
    connected: state.connected, refused: state.refused, refused_reasons: state.refusedReasons,
    connected_at_end: state.connectedNow, disconnects: state.disconnects,
    disconnect_reasons: state.disconnectReasons,
    steady_at_epoch_ms: state.steadyAt, stopped_at_epoch_ms: state.stopAt,
    connect: connectHist.summary(),
    events: Object.fromEntries([...events.entries()].map(([k, h]) => [k, h.summary()])),
    events_during_connect: state.duringConnect,
    broadcasts: { tracked, expected, received, lost, duplicates: extra, lost_by_event: lostBy },
    loop_lag: loopLag.summary(),
    timeline,
  };
}

let quitting = false;
function quit(why) {
  if (quitting) return;
  quitting = true;
  state.stopAt = Date.now();
  state.closing = true;
  const out = report();
  out.stopped_by = why;
  fs.writeFileSync(opts.out, JSON.stringify(out));
  for (const s of sockets) s.close();
  agent.destroy();
  setTimeout(() => process.exit(0), 300);
}

(async () => {
  process.on("SIGTERM", () => quit("SIGTERM"));
  process.on("SIGINT", () => quit("SIGINT"));
  process.stdin.on("end", () => quit("stdin closed"));
  process.stdin.resume();
  setTimeout(() => quit("max-seconds"), Number(opts["max-seconds"]) * 1000).unref();
  let expectedTick = Date.now() + 100;
  setInterval(() => {
    const now = Date.now();
    loopLag.add(Math.max(0, now - expectedTick));
    expectedTick = now + 100;
  }, 100).unref();

  const t0 = Date.now();
  const tokens = new Array(N);
  await pool(N, Number(opts["mint-concurrency"]), async (i) => {
    tokens[i] = await mintOne(i);
    if (tokens[i]) state.minted += 1; else state.mintFailed += 1;
  });
  const mintS = (Date.now() - t0) / 1000;
  emitLine({ phase: "minted", minted: state.minted, failed: state.mintFailed, seconds: mintS });
  state.phase = "connecting";
  const t1 = Date.now();
  const live = tokens.filter(Boolean);
  await pool(live.length, Number(opts.concurrency), (i) => connectOne(live[i]));
  const connectS = (Date.now() - t1) / 1000;
  state.steadyAt = Date.now();
  state.phase = "steady";
  emitLine({
    phase: "connected", connected: state.connected, refused: state.refused, seconds: connectS,
    rate: state.connected / Math.max(0.001, connectS), connect: connectHist.summary(),
  });
})();
