// Memory probe load generator: connect N socket.io-client viewers over websocket to /live,
// print {"phase":"connected",...}, then hold them until stdin closes (or SIGTERM).
// Usage: node hold.js URL TOKEN N
const { io } = require("socket.io-client");

const [url, token, nStr] = process.argv.slice(2);
const N = Number(nStr);
const BATCH = 250;
const sockets = [];

function connectOne() {
  return new Promise((resolve) => {
    const s = io(url + "/live", {
      transports: ["websocket"], auth: { token }, reconnection: false, forceNew: true, timeout: 60000,
    });
    s.on("connect", () => resolve(true));
    s.on("connect_error", () => resolve(false));
    sockets.push(s);
  });
}

(async () => {
  const t0 = Date.now();
  let ok = 0;
  for (let i = 0; i < N; i += BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + BATCH); j++) batch.push(connectOne());
    ok += (await Promise.all(batch)).filter(Boolean).length;
  }
  const seconds = (Date.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ phase: "connected", connected: ok, seconds }) + "\n");
  const quit = () => { for (const s of sockets) s.close(); setTimeout(() => process.exit(0), 200); };
  process.stdin.on("end", quit);
  process.stdin.resume();
  process.on("SIGTERM", quit);
})();
