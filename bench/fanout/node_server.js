// The reference: a stock Node.js socket.io 4.8 server with the same room shape.
// Viewers connect to /live and join "room:bench"; POST /broadcast emits one event to the room.
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.env.PORT || 3000);
const server = http.createServer((req, res) => {
  if (req.method === "POST" && req.url.startsWith("/broadcast")) {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const { text } = JSON.parse(body || "{}");
      io.of("/live").to("room:bench").emit("room.announcement", { room_id: "bench", text, ts: Date.now() });
      res.writeHead(201, { "Content-Type": "application/json" });
      res.end("{}");
    });
    return;
  }
  if (req.url === "/healthz") { res.writeHead(200); res.end("ok"); return; }
  res.writeHead(404); res.end();
});
const io = new Server(server, { transports: ["websocket"], cors: { origin: "*" } });
io.of("/live").on("connection", (socket) => { socket.join("room:bench"); });
server.listen(port, "127.0.0.1", () => console.log(`node reference listening on ${port}`));
