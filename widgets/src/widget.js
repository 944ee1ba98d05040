// The embeddable booking widget (placeholder until the booking issue lands).
import { io } from "socket.io-client";
window.LiveCompanion = { io };
