// Independent load generator: N socket.io-client viewers over websocket, then B broadcasts.
// Prints JSON lines: {"phase":"connected",...}, {"phase":"done",...} with latency stats.
// Usage: node loadgen.js URL TOKEN N BROADCASTS TRIGGER_URL [TRIGGER_TOKEN]
const { io } = require("socket.io-client");
const http = require("http");

const [url, token, nStr, bStr, triggerUrl, triggerToken] = process.argv.slice(2);
const N = Number(nStr), B = Number(bStr);
const BATCH = 250;
const latencies = [];
let received = 0, dropped = 0;
const sockets = [];
// FANOUT_PER_BROADCAST=1: also report p50/p99/max of each broadcast (where the tail comes from).
const PER = process.env.FANOUT_PER_BROADCAST === "1";
const perBroadcast = {};

function emitLine(obj) { process.stdout.write(JSON.stringify(obj) + "\n"); }

function connectOne() {
  return new Promise((resolve) => {
    const s = io(url + "/live", {
      transports: ["websocket"], auth: { token }, reconnection: false, forceNew: true, timeout: 60000,
    });
    s.on("connect", () => resolve(true));
    s.on("connect_error", () => resolve(false));
    s.on("disconnect", () => { dropped += 1; });
    s.on("room.announcement", (d) => {
      const ms = Date.now() - d.ts;
      received += 1; latencies.push(ms);
      if (PER) { const k = d.text.slice(d.text.lastIndexOf("#") + 1); (perBroadcast[k] ||= []).push(ms); }
    });
    sockets.push(s);
  });
}

function post(text) {
  return new Promise((resolve, reject) => {
    const u = new URL(triggerUrl);
    const body = JSON.stringify({ text });
    const headers = { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) };
    if (triggerToken) headers.Authorization = `Bearer ${triggerToken}`;
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
    for (let j = i; j < Math.min(N, i + BATCH); j++) batch.push(connectOne());
    ok += (await Promise.all(batch)).filter(Boolean).length;
  }
  const connectS = (Date.now() - t0) / 1000;
  emitLine({ phase: "connected", connected: ok, seconds: connectS, rate: ok / connectS });
  await sleep(2000);  // let the server settle (room.state, counters) before measuring
  emitLine({ phase: "broadcasting" });
  // ~150-byte event: the text pads the payload to the size of a real room event.
  const text = "限时福利：今晚到店出示券码立减20元，数量有限先到先得 Flash coupon tonight";
  const tb = Date.now();
  for (let k = 0; k < B; k++) {
    const status = await post(`${text} #${k}`);
    if (status !== 201) emitLine({ phase: "error", status });
    await sleep(250);
  }
  const deadline = Date.now() + 20000;
  while (received < ok * B && Date.now() < deadline) await sleep(50);
  const sorted = latencies.slice().sort((a, b) => a - b);
  emitLine({
    phase: "done", expected: ok * B, received, dropped, broadcast_seconds: (Date.now() - tb) / 1000,
    p50_ms: pct(sorted, 0.5), p99_ms: pct(sorted, 0.99), max_ms: sorted[sorted.length - 1] ?? null,
  });
  if (PER) {
    for (const [k, v] of Object.entries(perBroadcast)) {
      v.sort((a, b) => a - b);
      emitLine({ phase: "broadcast", k: Number(k), n: v.length, first: v[0], p50: pct(v, 0.5), p99: pct(v, 0.99), max: v[v.length - 1] });
    }
  }
  for (const s of sockets) s.close();
  await sleep(200);
  process.exit(0);
})();
