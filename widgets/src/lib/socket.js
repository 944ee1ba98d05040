// Socket.IO connection with a visible state (connected / reconnecting / offline).
import { io } from "socket.io-client";

/**
 * Connect to `namespace` on `base` ("" = this origin). `auth` is an object or a function
 * returning one (evaluated on every (re)connect, so a resume position stays current).
 * `onState(state, detail)` gets "connecting" | "connected" | "reconnecting" | "refused".
 */
export function connect(base, namespace, auth, onState) {
  const url = (base || location.origin) + namespace;
  const socket = io(url, {
    path: "/socket.io",
    transports: ["websocket"],
    auth: typeof auth === "function" ? (cb) => cb(auth()) : auth,
    reconnection: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
  });
  const report = (state, detail) => onState && onState(state, detail);
  report("connecting");
  socket.on("connect", () => report("connected"));
  socket.on("disconnect", (reason) => {
    // "io server disconnect": the server hung up on purpose; Socket.IO does not retry
    // by itself then, so ask again (a new token or the same one may work later).
    report("reconnecting", reason);
    if (reason === "io server disconnect") setTimeout(() => socket.connect(), 1000);
  });
  socket.on("connect_error", (err) => {
    const message = (err && err.message) || "";
    // A refused token will not start working by retrying: say so and stop.
    if (/token|needs a|expired|signature|malformed/i.test(message)) {
      report("refused", message);
      socket.disconnect();
    } else report("reconnecting", message);
  });
  return socket;
}
