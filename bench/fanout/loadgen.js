// Independent load generator: N socket.io-client viewers over websocket, then B broadcasts.
// Prints JSON lines: {"phase":"connected",...}, {"phase":"done",...} with latency stats.
//
// Usage: node loadgen.js CONFIG.json, the config being
//   {"url", "tokens": [...] (one per viewer, cycled if fewer), "n", "event",
//    "triggers": [{"url", "body", "token", "key"}], "gap_ms"}
// Each trigger is one HTTP POST; the viewers count `event` and match each message to its
// trigger by `key`: the payload's `id` (coupon.dropped: the campaign) or the text's
// "#k" suffix (room.announcement). Latency = receive time minus the trigger's send time
// (the whole path: HTTP request, server work, fan-out, client), and, for reference, minus
// the payload's `ts` (server clock, same machine).
const fs = require("fs");
const { io } = require("socket.io-client");
const http = require("http");

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const N = cfg.n, EVENT = cfg.event, TRIGGERS = cfg.triggers, GAP = cfg.gap_ms ?? 250;
const BATCH = 250;
const latencies = [], fromTs = [];
let received = 0, dropped = 0, refused = 0, payloadBytes = 0;
const sockets = [];
const sentAt = {};
// FANOUT_PER_BROADCAST=1: also report p50/p99/max of each broadcast (where the tail comes from).
const PER = process.env.FANOUT_PER_BROADCAST === "1";
const perBroadcast = {};

function emitLine(obj) { process.stdout.write(JSON.stringify(obj) + "\n"); }

function keyOf(d) {
  if (EVENT === "room.announcement") return d.text.slice(d.text.lastIndexOf("#") + 1);
  return String(d.id);
}

function connectOne(i) {
  return new Promise((resolve) => {
    const token = cfg.tokens[i % cfg.tokens.length];
    const s = io(cfg.url + "/live", {
      transports: ["websocket"], auth: { token }, reconnection: false, forceNew: true, timeout: 60000,
    });
    s.on("connect", () => resolve(true));
    s.on("connect_error", () => { refused += 1; resolve(false); });
    s.on("disconnect", () => { dropped += 1; });
    s.on(EVENT, (d) => {
      const now = Date.now();
      const k = keyOf(d);
      const t = sentAt[k];
      if (t === undefined) return;  // not one of ours
      if (!payloadBytes) payloadBytes = Buffer.byteLength(JSON.stringify(d));
      const ms = now - t;
      received += 1; latencies.push(ms); fromTs.push(now - d.ts);
      (perBroadcast[k] ||= []).push(ms);
    });
    sockets.push(s);
  });
}

function post(trigger) {
  return new Promise((resolve, reject) => {
    const u = new URL(trigger.url);
    const body = JSON.stringify(trigger.body ?? {});
    const headers = { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) };
    if (trigger.token) headers.Authorization = `Bearer ${trigger.token}`;
    const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname, method: "POST", headers, agent: false }, (res) => {
      res.resume(); res.on("end", () => resolve(res.statusCode));
    });
    req.on("error", reject); req.end(body);
  });
}

const pct = (sorted, p) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : null;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

(async () => {
  const t0 = Date.now();
  let ok = 0;
  for (let i = 0; i < N; i += BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + BATCH); j++) batch.push(connectOne(j));
    ok += (await Promise.all(batch)).filter(Boolean).length;
  }
  const connectS = (Date.now() - t0) / 1000;
  emitLine({ phase: "connected", connected: ok, refused, seconds: connectS, rate: ok / connectS });
  await sleep(2000);  // let the server settle (room.state, counters) before measuring
  emitLine({ phase: "broadcasting" });
  const tb = Date.now();
  for (const trigger of TRIGGERS) {
    sentAt[trigger.key] = Date.now();
    const status = await post(trigger);
    if (status < 200 || status >= 300) emitLine({ phase: "error", status });
    await sleep(GAP);
  }
  const B = TRIGGERS.length;
  const deadline = Date.now() + 20000;
  while (received < ok * B && Date.now() < deadline) await sleep(50);
  const sorted = latencies.slice().sort((a, b) => a - b);
  const ts = fromTs.slice().sort((a, b) => a - b);
  // The tail of a typical broadcast: the median over broadcasts of each one's p99 (the
  // overall p99 is the tail of the worst one or two of the B broadcasts).
  const each = Object.values(perBroadcast).map((v) => { v.sort((a, b) => a - b); return pct(v, 0.99); });
  each.sort((a, b) => a - b);
  const bcastP99 = each.length ? each[Math.floor(each.length / 2)] : null;
  emitLine({
    phase: "done", expected: ok * B, received, dropped, refused, broadcast_seconds: (Date.now() - tb) / 1000,
    p50_ms: pct(sorted, 0.5), p99_ms: pct(sorted, 0.99), max_ms: sorted[sorted.length - 1] ?? null,
    ts_p50_ms: pct(ts, 0.5), ts_p99_ms: pct(ts, 0.99), payload_bytes: payloadBytes,
    bcast_p99_median_ms: bcastP99,
  });
  if (PER) {
    for (const [k, v] of Object.entries(perBroadcast)) {
      emitLine({ phase: "broadcast", k, n: v.length, first: v[0], p50: pct(v, 0.5), p99: pct(v, 0.99), max: v[v.length - 1] });
    }
  }
  for (const s of sockets) s.close();
  await sleep(200);
  process.exit(0);
})();
