// Guides' tasks as the guide page and the store dashboard keep them: one record per task
// merged from GET /stores/{store}/tasks, GET /tasks/{id} and the task.* events of /store
// (replay and live), newest `updated_at` winning, so an HTTP answer that left the server
// before an event cannot undo it (and a replayed event cannot undo a newer answer).

export const OPEN = new Set(["assigned", "accepted", "contacted"]);

export const TASK_STATUS_TEXT = {
  assigned: "待接单 To accept",
  accepted: "已接单 Accepted",
  contacted: "已联系 Contacted",
  arrived: "已到店 Arrived",
  no_show: "爽约 No-show",
  cancelled: "已取消 Cancelled",
};

export const TASK_EVENTS = ["task.assigned", "task.updated", "task.reminder"];

/** Event or HTTP task -> one shape. An event's `id` is its stream id; its task is `task_id`. */
export function normalizeTask(raw, fromEvent) {
  const t = { ...raw };
  if (fromEvent) {
    t.stream_id = raw.id;
    t.id = raw.task_id;
    delete t.type;
    delete t.v;
  }
  t.guide_id = t.guide_id || "";
  t.updated_ms = msOf(t.updated_at);
  t.accept_by_ms = typeof t.accept_by === "number" ? t.accept_by : msOf(t.accept_by);
  return t;
}

function msOf(value) {
  if (typeof value === "number") return value;
  const ms = Date.parse(String(value || ""));
  return isNaN(ms) ? 0 : ms;
}

/**
 * A map of tasks by id. `put(task)` merges a normalized task unless what is kept is newer;
 * fields an event leaves out (customer, info on task.updated) survive from what was kept.
 * Returns the merged record, or null when the task was older than what is kept.
 */
export class TaskBook {
  constructor() {
    this.tasks = new Map();
  }

  get(id) {
    return this.tasks.get(id);
  }

  put(task) {
    if (!task || !task.id) return null;
    const kept = this.tasks.get(task.id);
    if (kept && kept.updated_ms > task.updated_ms) return null;
    const merged = { ...(kept || {}), ...stripEmpty(task) };
    merged.customer = { ...((kept && kept.customer) || {}), ...(task.customer || {}) };
    merged.info = { ...((kept && kept.info) || {}), ...(task.info || {}) };
    this.tasks.set(task.id, merged);
    return merged;
  }

  patch(id, fields) {
    const kept = this.tasks.get(id);
    if (kept) this.tasks.set(id, { ...kept, ...fields });
    return this.tasks.get(id);
  }

  values() {
    return [...this.tasks.values()];
  }
}

function stripEmpty(task) {
  const out = {};
  for (const [k, v] of Object.entries(task)) if (v !== undefined && v !== null) out[k] = v;
  // guide_id "" is meaningful (nobody): keep it even though it is falsy.
  out.guide_id = task.guide_id || "";
  return out;
}

/** Open first, then highest priority, then the soonest slot. */
export function byUrgency(a, b) {
  const openA = OPEN.has(a.status) ? 0 : 1;
  const openB = OPEN.has(b.status) ? 0 : 1;
  return openA - openB || (b.priority || 0) - (a.priority || 0) || (a.slot_ts || 0) - (b.slot_ts || 0);
}

/** The claims of one of our tokens (`lc1.<base64url JSON>.<mac>`): role, store, subject. */
export function tokenClaims(token) {
  try {
    const part = String(token || "").split(".")[1] || "";
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((part.length + 3) % 4);
    const json = decodeURIComponent(
      Array.from(atob(b64), (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join("")
    );
    const data = JSON.parse(json);
    const subject = String(data.u || "");
    return {
      role: data.r || "",
      scope: data.s || "",
      subject,
      guideId: subject.startsWith("guide:") ? subject.slice(6) : null,
    };
  } catch (_) {
    return { role: "", scope: "", subject: "", guideId: null };
  }
}

/** Short customer facts for a card: [label, value] pairs (numbers from the task or its 360). */
export function customerFacts(c) {
  const n = (a, b) => (typeof c[a] === "number" ? c[a] : typeof c[b] === "number" ? c[b] : 0);
  const facts = [
    ["到店 Visits", n("visits_total", "visits")],
    ["爽约 No-shows", n("no_shows_total", "no_shows")],
    ["订单 Orders", n("orders_total", "orders")],
    ["以往预约 Earlier bookings", n("earlier_bookings", "earlier_bookings")],
  ];
  const amount = n("amount_total", "amount");
  if (amount) facts.push(["消费 Spent", `¥${amount}`]);
  if (Array.isArray(c.rooms_watched) && c.rooms_watched.length) {
    facts.push(["看过直播 Rooms watched", c.rooms_watched.length]);
  }
  if (Array.isArray(c.groups) && c.groups.length) {
    facts.push(["社群 Groups", c.groups.length]);
  }
  return facts;
}

/** Returning or new: the task's own flag, else visits/bookings before this one. */
export function isReturning(c) {
  if (typeof c.returning === "boolean") return c.returning;
  return (c.visits_total || c.visits || 0) > 0 || (c.earlier_bookings || 0) > 0;
}
