// A store guide's phone page: my tasks (open first, by priority and slot) with the
// customer card (who they are, what they watched and booked, what to say), one-tap
// accept / contacted / arrived / no-show, live over /store with the guide's token
// (replay from the last handled id, then live; acks back, like the store dashboard), and
// the reason of every refusal.
import "./guide.css";
import { apiClient, ApiError } from "./lib/api.js";
import { h, replaceChildren, localTime, localDate, dateIn } from "./lib/dom.js";
import { connect } from "./lib/socket.js";
import { pageToken, forgetToken, signIn, connectionIndicator, formatTime } from "./lib/page.js";
import {
  OPEN,
  TASK_STATUS_TEXT,
  TASK_EVENTS,
  TaskBook,
  normalizeTask,
  byUrgency,
  tokenClaims,
  customerFacts,
  isReturning,
} from "./lib/tasks.js";

const storeId = document.body.dataset.store;
const app = document.getElementById("app");
const scopeKey = `guide:${storeId}`;
const NEW_HIGHLIGHT_MS = 15000;
const ACK_DELAY_MS = 250;
const DAYS_AHEAD = 3; // the widget books today, tomorrow and the day after

const S = {
  token: null,
  me: null, // my guide id (null: a manager's or ops token sees the whole store)
  myName: "",
  info: null, // the store record
  book: new TaskBook(),
  seen: new Set(), // task ids shown as mine at least once (a later one is "new")
  details: new Map(), // task id -> "loading" | "done"
  bookings: new Map(), // booking id -> {contact}
  lastId: null,
  synced: false,
  busy: new Set(), // task ids with an action in flight
  errors: new Map(), // task id -> refusal text
};

let http = null;
let socket = null;
let ackTimer = null;
let renderQueued = false;
const conn = connectionIndicator();
const titleEl = h("h1");
const notice = h("p", { class: "notice", role: "status", "aria-live": "polite" });
const countersEl = h("div", { class: "counters" });
const openEl = h("ol", { class: "tasks", "aria-labelledby": "open-title" });
const doneEl = h("ol", { class: "tasks done" });
const doneCount = h("span");

function start(token) {
  S.token = token;
  const claims = tokenClaims(token);
  S.me = claims.guideId;
  http = apiClient("", () => S.token);
  replaceChildren(
    app,
    h(
      "header",
      { class: "topbar" },
      titleEl,
      conn.el,
      h("button", { type: "button", text: "退出 Sign out", onclick: () => signOut() })
    ),
    notice,
    countersEl,
    h("h2", { id: "open-title", text: "待办 Open tasks" }),
    openEl,
    h("details", { class: "done-box" }, h("summary", null, "已完成 Done ", doneCount), doneEl)
  );
  render();
  load();
  socket = connect("", "/store", () => ({ token: S.token, last_id: S.lastId || "0" }), (state, detail) => {
    conn.set(state, detail);
    if (state === "refused") signOut(detail);
    if (state === "connected" && S.synced) {
      S.details.clear(); // back online: refresh the lists and the customer cards
      load();
    }
  });
  for (const type of TASK_EVENTS) socket.on(type, (ev) => handle(type, ev || {}));
  socket.on("store.synced", (ev) => {
    if (ev && ev.last_id && ev.last_id !== "0-0" && !S.lastId) S.lastId = ev.last_id;
    S.synced = true;
  });
}

function signOut(reason) {
  forgetToken(scopeKey);
  if (socket) socket.disconnect();
  socket = null;
  signIn(app, "导购任务 Guide tasks", `门店 Store: ${storeId}`, start, typeof reason === "string" ? reason : "");
}

// --- loading ---------------------------------------------------------------------------

async function load() {
  try {
    S.info = S.info || (await http.get(`/api/v1/stores/${encodeURIComponent(storeId)}`));
  } catch (_) {
    /* the name and timezone are nice to have: today's tasks still load */
  }
  loadRoster();
  const tz = S.info && S.info.timezone;
  const days = tz ? Array.from({ length: DAYS_AHEAD }, (_, i) => dateIn(tz, i)) : [""];
  const query = S.me ? { guide: S.me } : {};
  const results = await Promise.allSettled(
    days.map((date) => http.get(`/api/v1/stores/${encodeURIComponent(storeId)}/tasks`, { query: { ...query, date } }))
  );
  for (const r of results) {
    if (r.status === "fulfilled") {
      for (const raw of (r.value && r.value.tasks) || []) take(normalizeTask(raw, false));
    } else if (r.reason instanceof ApiError && (r.reason.status === 401 || r.reason.status === 403)) {
      return signOut(r.reason.message);
    } else {
      say(`加载失败 Could not load tasks: ${r.reason.message}`, true);
    }
  }
  scheduleRender();
}

async function loadRoster() {
  if (!S.me || S.myName) return;
  try {
    const roster = await http.get(`/api/v1/stores/${encodeURIComponent(storeId)}/guides`);
    const mine = ((roster && roster.guides) || []).find((g) => g.id === S.me);
    if (mine) S.myName = mine.name;
    scheduleRender();
  } catch (_) {
    /* the id stands in for the name */
  }
}

/** The customer's whole story now (GET /tasks/{id}) and the booking's phone, once. */
async function loadDetail(task) {
  if (S.details.has(task.id)) return;
  S.details.set(task.id, "loading");
  try {
    const [full, booking] = await Promise.all([
      http.get(`/api/v1/tasks/${encodeURIComponent(task.id)}`),
      http.get(`/api/v1/bookings/${encodeURIComponent(task.booking_id)}`).catch(() => null),
    ]);
    const kept = S.book.get(task.id);
    if (kept) {
      S.book.patch(task.id, {
        customer: { ...kept.customer, ...(full.customer || {}) },
        info: { ...kept.info, ...(full.info || {}) },
      });
    }
    if (booking) S.bookings.set(task.booking_id, booking);
    S.details.set(task.id, "done");
  } catch (_) {
    S.details.delete(task.id); // moved away or offline: try again when it shows next
  }
  scheduleRender();
}

// --- events ----------------------------------------------------------------------------

function handle(type, ev) {
  if (ev.id) {
    S.lastId = ev.id;
    scheduleAck();
  }
  if (!ev.task_id) return;
  const task = normalizeTask(ev, true);
  const kept = S.book.get(task.id);
  const merged = take(task);
  if (!merged) return;
  if (type === "task.reminder") S.book.patch(task.id, { reminder: Date.now() });
  if (isMine(merged) && !(kept && isMine(kept)) && S.synced && OPEN.has(merged.status)) {
    S.book.patch(task.id, { freshAt: Date.now() });
    buzz();
  }
  if (kept && isMine(kept) && !isMine(merged)) {
    const to = merged.guide_name || merged.guide_id || "—";
    say(`任务已转给 ${to} · Task moved to ${to}: ${merged.service_name || ""} ${localTime(merged.due_at)}`);
  }
  if (type === "task.reminder" && isMine(merged)) {
    say(`提醒 Reminder: ${localTime(merged.due_at)} ${merged.service_name || ""}`);
    buzz();
  }
  scheduleRender();
}

/** Keep a task (newest wins); fetch the customer's story for a task of mine. */
function take(task) {
  const merged = S.book.put(task);
  if (merged && isMine(merged) && OPEN.has(merged.status)) loadDetail(merged);
  return merged;
}

function isMine(task) {
  return !S.me || task.guide_id === S.me;
}

function scheduleAck() {
  if (ackTimer) return;
  ackTimer = setTimeout(() => {
    ackTimer = null;
    if (socket && socket.connected && S.lastId) socket.emit("ack", { id: S.lastId });
  }, ACK_DELAY_MS);
}

// --- actions ---------------------------------------------------------------------------

const ACTIONS = {
  accept: { label: "接单 Accept", done: "已接单 Accepted", refused: "接单失败 Accept refused" },
  contact: { label: "已联系 Contacted", done: "已标记联系 Marked contacted", refused: "标记失败 Refused" },
  arrive: { label: "已到店 Arrived", done: "已签到 Checked in", refused: "签到失败 Check-in refused" },
  "no-show": { label: "爽约 No-show", done: "已标记爽约 Marked no-show", refused: "标记失败 Refused" },
};

async function act(task, action) {
  if (S.busy.has(task.id)) return;
  S.busy.add(task.id);
  S.errors.delete(task.id);
  scheduleRender();
  try {
    if (action === "arrive") {
      const result = await http.post(
        `/api/v1/stores/${encodeURIComponent(storeId)}/bookings/${encodeURIComponent(task.booking_id)}/arrive`,
        {}
      );
      const kept = S.book.get(task.id);
      if (kept && OPEN.has(kept.status)) {
        S.book.patch(task.id, { status: "arrived", arrived_at: (result && result.arrived_at) || "" });
      }
    } else {
      const updated = await http.post(`/api/v1/tasks/${encodeURIComponent(task.id)}/${action}`, {});
      take(normalizeTask(updated, false));
    }
    say(`${ACTIONS[action].done}: ${task.service_name || ""} ${localTime(task.due_at)}`);
  } catch (err) {
    const text = `${ACTIONS[action].refused}: ${err.message}`;
    S.errors.set(task.id, text);
    say(text, true);
  } finally {
    S.busy.delete(task.id);
    scheduleRender();
  }
}

// --- rendering -------------------------------------------------------------------------

function say(text, isError) {
  notice.className = isError ? "notice error" : "notice";
  notice.setAttribute("role", isError ? "alert" : "status");
  notice.textContent = text;
}

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

function render() {
  // Redrawing replaces the cards: keep the keyboard where it was (same task, same button).
  const focused = document.activeElement;
  const focusCard = focused && focused.closest && focused.closest(".task");
  const focusAt = focusCard && { task: focusCard.dataset.taskId, action: focused.dataset.action };
  draw();
  if (focusAt && focusAt.action) {
    const card = [...app.querySelectorAll(".task")].find((el) => el.dataset.taskId === focusAt.task);
    const target = card && card.querySelector(`[data-action="${focusAt.action}"]`);
    if (target && !target.disabled) target.focus();
    else if (card) card.querySelector("button:not([disabled])")?.focus();
  }
}

function draw() {
  const who = S.me ? S.myName || S.me : "全店 Whole store";
  titleEl.textContent = `我的任务 My tasks · ${who}`;
  document.title = `导购 ${who} · ${(S.info && S.info.name) || storeId}`;
  const today = dateIn(S.info && S.info.timezone, 0);
  const mine = S.book.values().filter(isMine).sort(byUrgency);
  const open = mine.filter((t) => OPEN.has(t.status));
  // closed today: a visitor checked in early for a later slot is today's, not that day's
  const closedToday = (t) => localDate(t.due_at) === today || localDate(t.updated_at) === today;
  const done = mine.filter((t) => !OPEN.has(t.status) && closedToday(t));
  replaceChildren(
    countersEl,
    counter("待接单 To accept", open.filter((t) => t.status === "assigned").length, "assigned"),
    counter("进行中 Open", open.length, "open"),
    counter("今日到店 Arrived today", done.filter((t) => t.status === "arrived").length, "arrived")
  );
  if (!open.length) {
    replaceChildren(openEl, h("li", { class: "muted none", text: "暂无待办任务 No open tasks" }));
  } else {
    replaceChildren(openEl, open.map((t) => taskCard(t, today)));
  }
  doneCount.textContent = `(${done.length})`;
  replaceChildren(doneEl, done.map((t) => taskCard(t, today)));
}

function counter(label, value, key) {
  return h("div", { class: "counter", "data-counter": key }, h("b", { text: String(value) }), h("span", { text: label }));
}

function taskCard(t, today) {
  const fresh = t.freshAt && Date.now() - t.freshAt < NEW_HIGHLIGHT_MS;
  if (fresh) setTimeout(scheduleRender, NEW_HIGHLIGHT_MS - (Date.now() - t.freshAt) + 50);
  const reminded = t.reminder && OPEN.has(t.status);
  const day = localDate(t.due_at);
  const when = day && day !== today ? `${day.slice(5)} ${localTime(t.due_at)}` : localTime(t.due_at);
  const busy = S.busy.has(t.id);
  const error = S.errors.get(t.id);
  const classes = ["task", `status-${t.status}`];
  if (fresh) classes.push("new");
  if (reminded) classes.push("reminder");
  return h(
    "li",
    { class: classes.join(" "), "data-task-id": t.id, "data-booking-id": t.booking_id, "data-guide-id": t.guide_id },
    h(
      "div",
      { class: "t-head" },
      h("time", { class: "t-when", datetime: t.due_at || "", text: when }),
      h("strong", { class: "t-service", text: t.service_name || (t.info && t.info.service_name) || "" }),
      h("span", { class: `badge t-status s-${t.status}`, text: TASK_STATUS_TEXT[t.status] || t.status })
    ),
    h(
      "div",
      { class: "t-flags" },
      fresh && h("span", { class: "badge new-badge", text: "新 New" }),
      reminded && h("span", { class: "badge remind-badge", text: "⏰ 即将到店 Due soon" }),
      (t.priority || 0) >= 60 && h("span", { class: "badge hot", text: `优先 Priority ${t.priority}` }),
      t.reassigned > 0 && h("span", { class: "badge", text: "转派 Reassigned" }),
      !S.me && h("span", { class: "badge", text: `导购 Guide: ${t.guide_name || t.guide_id || "—"}` }),
      t.status === "assigned" &&
        t.accept_by_ms > 0 &&
        h("span", { class: "muted accept-by", text: `请在 ${storeClock(t.accept_by_ms)} 前接单 Accept by` })
    ),
    customerCard(t),
    OPEN.has(t.status) && actions(t, busy),
    !OPEN.has(t.status) && t.status === "arrived" && h("p", { class: "ok", text: `✓ ${TASK_STATUS_TEXT.arrived}` }),
    error && h("p", { class: "error t-error", role: "alert", text: error })
  );
}

function customerCard(t) {
  const c = t.customer || {};
  const info = t.info || {};
  const booking = S.bookings.get(t.booking_id);
  const phone = booking && typeof booking.contact === "string" ? booking.contact : "";
  const returning = isReturning(c);
  const product = info.product || (booking && booking.product) || "";
  const points = Array.isArray(info.talking_points) ? info.talking_points : [];
  return h(
    "section",
    { class: "customer", "aria-label": "顾客 Customer" },
    h(
      "div",
      { class: "c-who" },
      h("span", { class: `badge ${returning ? "returning" : "first"}`, text: returning ? "老顾客 Returning" : "新客 New" }),
      h("span", { class: "c-id", text: `顾客 ${shortId(t.viewer_id || c.viewer_id)}` }),
      phone && h("a", { class: "c-phone", href: `tel:${phone.replace(/[^0-9+]/g, "")}`, text: `☎ ${phone}` })
    ),
    h(
      "dl",
      { class: "c-facts" },
      customerFacts(c).map(([label, value]) => h("div", null, h("dt", { text: label }), h("dd", { text: String(value) })))
    ),
    h(
      "ul",
      { class: "c-what" },
      info.room_title && h("li", { text: `直播间 Watched: ${info.room_title}` }),
      (t.service_name || info.service_name) && h("li", { text: `预约 Booked: ${t.service_name || info.service_name}` }),
      product && h("li", { class: "c-product", text: `屏幕商品 On screen: ${product}` })
    ),
    points.length > 0 &&
      h(
        "details",
        { class: "c-points", open: true },
        h("summary", { text: "话术 Talking points" }),
        h("ul", null, points.map((p) => h("li", { text: p })))
      )
  );
}

function actions(t, busy) {
  const button = (action, primary, enabled) =>
    h("button", {
      type: "button",
      class: primary ? "primary" : "",
      "data-action": action,
      disabled: busy || !enabled,
      "aria-label": `${ACTIONS[action].label} ${localTime(t.due_at)} ${t.service_name || ""}`,
      text: ACTIONS[action].label,
      onclick: () => act(t, action),
    });
  return h(
    "div",
    { class: "t-actions" },
    button("accept", t.status === "assigned", t.status === "assigned"),
    button("contact", t.status === "accepted", t.status === "assigned" || t.status === "accepted"),
    button("arrive", t.status === "contacted", true),
    button("no-show", false, true)
  );
}

/** "HH:MM" of a moment where the store is (slot times are written in the store's offset). */
function storeClock(ms) {
  try {
    return new Intl.DateTimeFormat("zh-CN", {
      timeZone: (S.info && S.info.timezone) || undefined,
      hour: "2-digit",
      minute: "2-digit",
      hour12: false,
    }).format(new Date(ms));
  } catch (_) {
    return formatTime(ms).slice(0, 5);
  }
}

function shortId(id) {
  return id ? String(id).slice(-6) : "—";
}

function buzz() {
  try {
    if (navigator.vibrate) navigator.vibrate(120);
  } catch (_) {
    /* no vibration: the highlight still shows */
  }
}

S.token = pageToken(scopeKey);
if (S.token) start(S.token);
else signIn(app, "导购任务 Guide tasks", `门店 Store: ${storeId}`, start);
