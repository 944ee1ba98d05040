// The reference: a stock Node.js socket.io 4.8 server with the same room shape.
// Viewers connect to /live with auth {token}: the token is checked as ours are (HMAC-SHA256
// of the payload, key from LIVE_SECRET, a viewer/host/ops role, expiry) and the socket joins
// "room:<scope>" (no room.state: Node's server sends nothing on join).
// POST /broadcast emits a room.announcement {room_id, text, ts} to the room (synthetic);
// POST /drop/<id> emits a coupon.dropped shaped as ours (COUPON_TEMPLATE, the same size) with
// that id, ts and an offset (the real path).
const http = require("http");
const crypto = require("crypto");
const { Server } = require("socket.io");

const port = Number(process.env.PORT || 3000);
const secret = process.env.LIVE_SECRET || "";
const template = JSON.parse(process.env.COUPON_TEMPLATE || "{}");
const PREFIX = "lc1.";
const key = crypto.createHash("sha256").update("live-companion/tokens/" + secret).digest();
const ROLES = new Set(["viewer", "host", "ops"]);
let seq = 0;

function verify(token) {
  if (typeof token !== "string" || !token.startsWith(PREFIX) || token.length > 1024) return null;
  const parts = token.slice(PREFIX.length).split(".");
  if (parts.length !== 2) return null;
  const [payload, mac] = parts;
  const want = crypto.createHmac("sha256", key).update(PREFIX + payload).digest("base64url");
  const a = Buffer.from(mac), b = Buffer.from(want);
  if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) return null;
  let data;
  try { data = JSON.parse(Buffer.from(payload, "base64url").toString()); } catch { return null; }
  if (!ROLES.has(data.r) || data.e * 1000 < Date.now()) return null;
  return data;
}

function readBody(req, done) {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => done(body));
}

const server = http.createServer((req, res) => {
  if (req.method === "POST" && req.url.startsWith("/broadcast")) {
    readBody(req, (body) => {
      const { text } = JSON.parse(body || "{}");
      io.of("/live").to("room:bench").emit("room.announcement", { room_id: "bench", text, ts: Date.now() });
      res.writeHead(201, { "Content-Type": "application/json" });
      res.end("{}");
    });
    return;
  }
  if (req.method === "POST" && req.url.startsWith("/drop/")) {
    readBody(req, () => {
      const id = req.url.slice("/drop/".length);
      seq += 1;
      const event = { ...template, id, status: "open", dropped_at: new Date().toISOString(), ts: Date.now(), offset: `${Date.now()}-${seq}` };
      io.of("/live").to(`room:${template.room_id || "bench"}`).emit("coupon.dropped", event);
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify(event));
    });
    return;
  }
  if (req.url === "/healthz") { res.writeHead(200); res.end("ok"); return; }
  res.writeHead(404); res.end();
});
const io = new Server(server, { transports: ["websocket"], cors: { origin: "*" } });
const live = io.of("/live");
live.use((socket, next) => {
  const token = socket.handshake.auth && socket.handshake.auth.token;
  if (token === "none") { socket.data.scope = "bench"; return next(); }  // synthetic runs
  const claims = verify(token);
  if (!claims) return next(new Error("the token is invalid"));
  socket.data.scope = claims.s;
  next();
});
live.on("connection", (socket) => { socket.join(`room:${socket.data.scope}`); });
server.listen(port, "127.0.0.1", () => console.log(`node reference listening on ${port}`));
