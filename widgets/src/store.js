// Store dashboard: the day's bookings by slot with the customer's context, live over
// /store (replay from the last handled id, then live; acks back), check-in, coupon
// redemption (typed code or camera QR scan), and a connection indicator that resumes
// on its own. For the manager: the day's open tasks by guide (roster + tasks, live from
// the task.* events of the same stream) with a reassign action.
import "./store.css";
import { apiClient, ApiError } from "./lib/api.js";
import { h, replaceChildren, store as local, localTime, localDate, dateIn } from "./lib/dom.js";
import { connect } from "./lib/socket.js";
import { pageToken, forgetToken, signIn, connectionIndicator, formatTime } from "./lib/page.js";
import { OPEN, TASK_STATUS_TEXT, TASK_EVENTS, TaskBook, normalizeTask, byUrgency, isReturning } from "./lib/tasks.js";

const storeId = document.body.dataset.store;
const app = document.getElementById("app");
const scopeKey = `store:${storeId}`;
const NEW_HIGHLIGHT_MS = 15000;
const ACK_DELAY_MS = 250;

const STATUS_TEXT = {
  confirmed: "已预约 Booked",
  booked: "已预约 Booked",
  arrived: "已到店 Arrived",
  cancelled: "已取消 Cancelled",
};

const S = {
  token: pageToken(scopeKey),
  info: null, // the store record (name, timezone, capacity)
  day: null, // YYYY-MM-DD shown
  bookings: new Map(), // booking id -> row
  lastId: null, // last stream id handled (resume point)
  synced: false, // first replay done: later bookings are "new"
  redemptions: [],
  sound: Boolean(local.get("lc:store:sound", false)),
  message: "",
  tasks: new TaskBook(), // guides' tasks (task id -> task)
  guides: null, // the roster, or null while unknown / not readable with this token
  taskErrors: new Map(), // task id -> refusal text
};

let http = null;
let socket = null;
let ackTimer = null;
const conn = connectionIndicator();
const titleEl = h("h1");
const summaryEl = h("div", { class: "counters" });
const listEl = h("div", { class: "slots", "aria-live": "polite", "aria-relevant": "additions" });
const redeemResult = h("p", { class: "redeem-result", role: "status", "aria-live": "polite" });
const redeemLog = h("ol", { class: "redeem-log" });
const codeInput = h("input", { id: "code", name: "code", autocomplete: "off", spellcheck: "false", required: true, inputmode: "text", maxlength: "128" });
const amountInput = h("input", { id: "amount", name: "amount", type: "number", min: "0", step: "0.01", inputmode: "decimal" });
const scanArea = h("div", { class: "scan", hidden: true });
const dayInput = h("input", { id: "day", type: "date" });
const guidesEl = h("div", { class: "guide-board" });
const guidesSection = h(
  "section",
  { class: "guides-section", "aria-labelledby": "guides-title", hidden: true },
  h("h2", { id: "guides-title", text: "导购任务 Tasks by guide" }),
  guidesEl
);

function start(token) {
  S.token = token;
  http = apiClient("", () => S.token);
  const soundBox = h("input", {
    id: "sound",
    type: "checkbox",
    checked: S.sound,
    onchange: (e) => {
      S.sound = e.target.checked;
      local.set("lc:store:sound", S.sound);
      if (S.sound) beep(); // also unlocks audio after a user gesture
    },
  });
  dayInput.addEventListener("change", () => {
    if (dayInput.value) S.day = dayInput.value;
    renderBookings();
    loadTasks();
  });
  replaceChildren(
    app,
    h(
      "header",
      { class: "topbar" },
      titleEl,
      conn.el,
      h("label", { class: "inline", for: "sound" }, soundBox, " 提示音 Sound"),
      h("button", { type: "button", text: "退出 Sign out", onclick: () => signOut() })
    ),
    summaryEl,
    h(
      "div",
      { class: "columns" },
      h(
        "section",
        { "aria-labelledby": "bookings-title" },
        h(
          "div",
          { class: "section-head" },
          h("h2", { id: "bookings-title", text: "预约 Bookings" }),
          h("label", { class: "inline", for: "day", text: "日期 Day " }),
          dayInput
        ),
        listEl
      ),
      h(
        "aside",
        { class: "side" },
        h(
          "form",
          { class: "card redeem", "aria-labelledby": "redeem-title", onsubmit: onRedeem },
          h("h2", { id: "redeem-title", text: "核销优惠券 Redeem a coupon" }),
          h("label", { for: "code", text: "券码 Code" }),
          codeInput,
          h("label", { for: "amount", text: "订单金额 Order amount (¥, 选填 optional)" }),
          amountInput,
          h(
            "div",
            { class: "row" },
            h("button", { type: "submit", class: "primary", "data-action": "redeem", text: "核销 Redeem" }),
            "BarcodeDetector" in window &&
              navigator.mediaDevices &&
              h("button", { type: "button", "data-action": "scan", text: "扫码 Scan QR", onclick: startScan })
          ),
          scanArea,
          redeemResult
        ),
        h("h2", { text: "今日核销 Redeemed" }),
        redeemLog
      )
    ),
    guidesSection
  );
  render();
  loadStore();
  socket = connect("", "/store", () => ({ token: S.token, last_id: S.lastId || "0", batch: true }), (state, detail) => {
    conn.set(state, detail);
    if (state === "refused") signOut(detail);
  });
  // Entries ready together (a replay, a burst) come as one store.batch, in stream order.
  const handlers = {};
  for (const type of ["booking.created", "booking.cancelled", "booking.arrived", "coupon.redeemed"]) {
    handlers[type] = (ev) => handle(type, ev || {});
  }
  for (const type of TASK_EVENTS) handlers[type] = (ev) => handleTask(ev || {});
  for (const [type, fn] of Object.entries(handlers)) socket.on(type, fn);
  socket.on("store.batch", (b) => {
    for (const { event, data } of (b && b.events) || []) if (handlers[event]) handlers[event](data);
  });
  socket.on("store.synced", (ev) => {
    if (ev && ev.last_id && ev.last_id !== "0-0" && !S.lastId) S.lastId = ev.last_id;
    S.synced = true;
  });
  socket.on("store.error", (ev) => (S.message = (ev && ev.detail) || ""));
}

function signOut(reason) {
  forgetToken(scopeKey);
  if (socket) socket.disconnect();
  signIn(app, "门店看板 Store dashboard", `门店 Store: ${storeId}`, start, typeof reason === "string" ? reason : "");
}

async function loadStore() {
  try {
    S.info = await http.get(`/api/v1/stores/${encodeURIComponent(storeId)}`);
  } catch (_) {
    S.info = null;
  }
  if (!S.day) {
    S.day = dateIn(S.info && S.info.timezone, 0);
    dayInput.value = S.day;
  }
  render();
  loadTasks();
}

// --- events ----------------------------------------------------------------------------

/** The booking an event is about: nested `booking`, or the event's own fields. */
function bookingOf(ev) {
  const b = ev.booking && typeof ev.booking === "object" ? ev.booking : ev;
  const id = ev.booking_id || b.booking_id || (b !== ev && b.id) || null;
  return { ...b, id };
}

function handle(type, ev) {
  if (ev.id) {
    S.lastId = ev.id;
    scheduleAck();
  }
  if (type === "coupon.redeemed") {
    S.redemptions.unshift(ev);
    renderRedemptions();
    return;
  }
  const b = bookingOf(ev);
  if (!b.id) return;
  const row = S.bookings.get(b.id) || { firstSeen: Date.now() };
  const merged = { ...row, ...stripMeta(b) };
  if (type === "booking.created") {
    merged.status = merged.status && merged.status !== "cancelled" ? merged.status : "confirmed";
    if (!row.id && S.synced) {
      merged.isNew = true;
      merged.firstSeen = Date.now();
      if (S.sound) beep();
    }
  } else if (type === "booking.cancelled") merged.status = "cancelled";
  else if (type === "booking.arrived") merged.status = "arrived";
  S.bookings.set(b.id, merged);
  render();
}

function stripMeta(b) {
  const { type, v, ts, ...rest } = b;
  return rest;
}

function scheduleAck() {
  if (ackTimer) return;
  ackTimer = setTimeout(() => {
    ackTimer = null;
    if (socket && socket.connected && S.lastId) socket.emit("ack", { id: S.lastId });
  }, ACK_DELAY_MS);
}

// --- rendering -------------------------------------------------------------------------

function render() {
  titleEl.textContent = `门店看板 Store dashboard · ${(S.info && S.info.name) || storeId}`;
  renderBookings();
}

function rowsOfDay() {
  return [...S.bookings.values()].filter((b) => !S.day || localDate(b.slot) === S.day);
}

function renderBookings() {
  const rows = rowsOfDay();
  const active = rows.filter((b) => b.status !== "cancelled");
  replaceChildren(
    summaryEl,
    counter("预约 Booked", active.length, "booked"),
    counter("已到店 Arrived", rows.filter((b) => b.status === "arrived").length, "arrived"),
    counter("已取消 Cancelled", rows.filter((b) => b.status === "cancelled").length, "cancelled"),
    counter("已核销 Redeemed", S.redemptions.length, "redeemed")
  );
  const bySlot = new Map();
  for (const b of rows.sort((x, y) => String(x.slot).localeCompare(String(y.slot)) || x.firstSeen - y.firstSeen)) {
    if (!bySlot.has(b.slot)) bySlot.set(b.slot, []);
    bySlot.get(b.slot).push(b);
  }
  if (!bySlot.size) {
    replaceChildren(listEl, h("p", { class: "muted empty", text: "这一天还没有预约 No bookings for this day yet" }));
    return;
  }
  const capacity = S.info && S.info.capacity;
  replaceChildren(
    listEl,
    [...bySlot.entries()].map(([slot, list]) => {
      const taken = list.filter((b) => b.status !== "cancelled").length;
      return h(
        "section",
        { class: "slot", "data-slot": slot },
        h(
          "h3",
          null,
          h("span", { text: localTime(slot) }),
          h("span", { class: "muted", text: capacity ? ` · ${taken}/${capacity}` : ` · ${taken}` })
        ),
        h("ul", { class: "bookings" }, list.map(renderRow))
      );
    })
  );
}

function counter(label, value, key) {
  return h("div", { class: "counter", "data-counter": key }, h("b", { text: String(value) }), h("span", { text: label }));
}

function renderRow(b) {
  const fresh = b.isNew && Date.now() - b.firstSeen < NEW_HIGHLIGHT_MS;
  if (fresh) setTimeout(renderBookings, NEW_HIGHLIGHT_MS - (Date.now() - b.firstSeen) + 50);
  const customer = b.customer || {};
  const coupon = b.coupon || customer.coupon || (Array.isArray(customer.coupons) && customer.coupons[0]) || null;
  const earlierBookings = customer.earlier_bookings ?? customer.bookings ?? b.earlier_bookings;
  const visits = customer.visits ?? customer.earlier_visits ?? b.earlier_visits ?? b.visits;
  const phone = (b.contact && (b.contact.phone || b.contact)) || customer.phone || "";
  const context = [
    roomName(b) ? `直播间 Room: ${roomName(b)}` : "",
    typeof earlierBookings === "number" ? `以往预约 Earlier bookings: ${countOf(earlierBookings)}` : "",
    visits !== undefined && visits !== null ? `到店 Visits: ${countOf(visits)}` : "",
  ].filter(Boolean);
  return h(
    "li",
    {
      class: `booking status-${b.status || "confirmed"}` + (fresh ? " new" : ""),
      "data-booking-id": b.id,
    },
    h(
      "div",
      { class: "b-main" },
      h("strong", { class: "b-service", text: b.service_name || b.service || "" }),
      customer.returning && h("span", { class: "badge", text: "老顾客 Returning" }),
      fresh && h("span", { class: "badge new-badge", text: "新 New" }),
      h("span", { class: "badge", text: STATUS_TEXT[b.status] || b.status || "" })
    ),
    h(
      "div",
      { class: "b-who muted" },
      h("span", { text: `顾客 Customer: ${customer.name || b.viewer_name || shortId(b.viewer_id || customer.viewer_id)}` }),
      phone && typeof phone === "string" ? h("span", { text: ` · ☎ ${phone}` }) : null
    ),
    context.length > 0 && h("div", { class: "b-context muted", text: context.join(" · ") }),
    coupon &&
      h("div", { class: "b-coupon", text: `券 Coupon: ${coupon.title || ""} ${coupon.code || ""}`.trim() }),
    h(
      "div",
      { class: "b-actions" },
      b.status !== "arrived" &&
        b.status !== "cancelled" &&
        h("button", {
          type: "button",
          class: "primary",
          "data-action": "arrive",
          "aria-label": `签到 Check in ${localTime(b.slot)} ${b.service || ""}`,
          text: "签到 Check in",
          onclick: (e) => arrive(b, e.currentTarget),
        }),
      b.status === "arrived" && h("span", { class: "ok", text: `✓ ${formatTime(b.arrived_at) || ""}` })
    )
  );
}

function roomName(b) {
  const r = b.room && typeof b.room === "object" ? b.room : {};
  return r.title || b.room_title || r.id || b.room_id || "";
}

function countOf(value) {
  return Array.isArray(value) ? value.length : value;
}

function shortId(id) {
  return id ? String(id).slice(-6) : "—";
}

// --- tasks by guide (the manager's view) ---------------------------------------------------

/** The roster and the chosen day's tasks; the section stays hidden for a token that cannot
 *  read the roster or a store without guides. */
async function loadTasks() {
  const base = `/api/v1/stores/${encodeURIComponent(storeId)}`;
  try {
    const [roster, list] = await Promise.all([
      http.get(`${base}/guides`),
      http.get(`${base}/tasks`, { query: { date: S.day } }),
    ]);
    S.guides = (roster && roster.guides) || [];
    for (const raw of (list && list.tasks) || []) S.tasks.put(normalizeTask(raw, false));
  } catch (_) {
    S.guides = S.guides || null;
  }
  renderGuides();
}

function handleTask(ev) {
  if (ev.id) {
    S.lastId = ev.id;
    scheduleAck();
  }
  if (!ev.task_id) return;
  const merged = S.tasks.put(normalizeTask(ev, true));
  if (merged && merged.guide_id && S.guides && !S.guides.some((g) => g.id === merged.guide_id)) {
    loadTasks(); // a guide added since the roster was read
    return;
  }
  renderGuides();
}

function renderGuides() {
  if (!S.guides || !S.guides.length) {
    guidesSection.hidden = true;
    return;
  }
  guidesSection.hidden = false;
  const tasks = S.tasks.values().filter((t) => OPEN.has(t.status) && (!S.day || localDate(t.due_at) === S.day));
  const known = new Set(S.guides.map((g) => g.id));
  const columns = S.guides.map((g) => guideColumn(g, tasks.filter((t) => t.guide_id === g.id)));
  const orphans = tasks.filter((t) => !known.has(t.guide_id));
  if (orphans.length) columns.push(guideColumn({ id: "", name: "未分配 Unassigned", active: true }, orphans));
  replaceChildren(guidesEl, columns);
}

function guideColumn(g, tasks) {
  return h(
    "section",
    { class: "guide-col", "data-guide-id": g.id },
    h(
      "h3",
      null,
      h("span", { text: g.name || g.id }),
      !g.active && h("span", { class: "badge", text: "停用 Inactive" }),
      h("span", { class: "muted g-count", text: ` · ${tasks.length} 待办 open` })
    ),
    tasks.length === 0
      ? h("p", { class: "muted g-none", text: "没有待办 Nothing open" })
      : h("ul", { class: "gtasks" }, tasks.sort(byUrgency).map(taskRow))
  );
}

function taskRow(t) {
  const others = S.guides.filter((g) => g.active && g.id !== t.guide_id);
  const select = h(
    "select",
    { "aria-label": `改派给 Reassign to (${localTime(t.due_at)} ${t.service_name || ""})`, "data-role": "reassign-to" },
    h("option", { value: "", text: "自动 Auto" }),
    others.map((g) => h("option", { value: g.id, text: g.name || g.id }))
  );
  const error = S.taskErrors.get(t.id);
  const c = t.customer || {};
  return h(
    "li",
    { class: `gtask status-${t.status}`, "data-task-id": t.id },
    h(
      "div",
      { class: "g-main" },
      h("strong", { text: localTime(t.due_at) }),
      h("span", { class: "g-service", text: t.service_name || "" }),
      h("span", { class: "badge", text: TASK_STATUS_TEXT[t.status] || t.status }),
      h("span", { class: "badge", text: isReturning(c) ? "老顾客 Returning" : "新客 New" })
    ),
    h(
      "div",
      { class: "g-actions" },
      select,
      h("button", {
        type: "button",
        "data-action": "reassign",
        text: "改派 Reassign",
        onclick: (e) => reassign(t, select.value, e.currentTarget),
      })
    ),
    error && h("span", { class: "error", role: "alert", text: error })
  );
}

async function reassign(t, guideId, button) {
  button.disabled = true;
  S.taskErrors.delete(t.id);
  try {
    const updated = await http.post(`/api/v1/tasks/${encodeURIComponent(t.id)}/reassign`, guideId ? { guide_id: guideId } : {});
    S.tasks.put(normalizeTask(updated, false));
  } catch (err) {
    S.taskErrors.set(t.id, `改派失败 Reassign refused: ${err.message}`);
    loadTasks(); // the roster may have changed (a guide made inactive): offer the right ones
    return;
  }
  renderGuides();
}

// --- actions ---------------------------------------------------------------------------

async function arrive(b, button) {
  button.disabled = true;
  try {
    const result = await http.post(
      `/api/v1/stores/${encodeURIComponent(storeId)}/bookings/${encodeURIComponent(b.id)}/arrive`,
      {}
    );
    const updated = (result && (result.booking || result)) || {};
    S.bookings.set(b.id, { ...S.bookings.get(b.id), status: "arrived", arrived_at: updated.arrived_at || Date.now() });
    renderBookings();
  } catch (err) {
    button.disabled = false;
    S.message = err.message;
    alertIn(button.parentNode, `签到失败 Check-in failed: ${err.message}`);
  }
}

function alertIn(parent, text) {
  const old = parent.querySelector(".error");
  if (old) old.remove();
  parent.appendChild(h("span", { class: "error", role: "alert", text }));
}

const REDEEM_ERRORS = {
  403: "此券不能在本店使用 Not valid in this store",
  404: "券码不存在 Unknown code",
  409: "此券已核销 Already redeemed",
  410: "此券已过期 Expired",
};

async function onRedeem(event) {
  event.preventDefault();
  const code = codeInput.value.trim();
  if (!code) return;
  const body = { code };
  if (amountInput.value !== "") body.order_amount = Number(amountInput.value);
  redeemResult.className = "redeem-result";
  redeemResult.textContent = "核销中 Redeeming…";
  try {
    const result = await http.post(`/api/v1/stores/${encodeURIComponent(storeId)}/redemptions`, body);
    redeemResult.className = "redeem-result ok";
    const saving = typeof result.discount === "number" ? ` · 优惠 Discount ¥${result.discount}` : "";
    redeemResult.textContent = `核销成功 Redeemed: ${result.campaign_title || ""} ${result.code || code}${saving}`;
    codeInput.value = "";
    amountInput.value = "";
  } catch (err) {
    redeemResult.className = "redeem-result error";
    const known = err instanceof ApiError && REDEEM_ERRORS[err.status];
    redeemResult.textContent = `${known || "核销失败 Failed"}: ${err.message}`;
  }
  codeInput.focus();
}

function renderRedemptions() {
  renderBookings();
  replaceChildren(
    redeemLog,
    S.redemptions.slice(0, 30).map((r) =>
      h(
        "li",
        null,
        h("code", { text: r.code || "" }),
        h("span", { class: "muted", text: ` ${formatTime(r.redeemed_at || r.ts)}${r.order_amount ? ` · ¥${r.order_amount}` : ""}` })
      )
    )
  );
}

// Camera scan where the browser has BarcodeDetector (Chrome on Android, Edge, ...).
async function startScan() {
  let stream = null;
  let stopped = false;
  const video = h("video", { playsinline: true, muted: true, "aria-label": "相机 Camera" });
  const stop = () => {
    stopped = true;
    if (stream) stream.getTracks().forEach((t) => t.stop());
    scanArea.hidden = true;
    replaceChildren(scanArea);
  };
  replaceChildren(scanArea, video, h("button", { type: "button", text: "关闭相机 Stop camera", onclick: stop }));
  scanArea.hidden = false;
  try {
    const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    video.srcObject = stream;
    await video.play();
    const tick = async () => {
      if (stopped) return;
      try {
        const codes = await detector.detect(video);
        if (codes.length) {
          codeInput.value = codeFromQr(codes[0].rawValue);
          stop();
          app.querySelector("form.redeem").requestSubmit();
          return;
        }
      } catch (_) {
        /* a frame that could not be read */
      }
      setTimeout(tick, 250);
    };
    tick();
  } catch (err) {
    stop();
    redeemResult.className = "redeem-result error";
    redeemResult.textContent = `无法使用相机 Camera unavailable: ${err.message || err}`;
  }
}

/** A QR may hold the bare code or a URL ending in it (…/coupons/<code> or ?code=). */
function codeFromQr(raw) {
  const text = String(raw || "").trim();
  try {
    const url = new URL(text);
    return url.searchParams.get("code") || decodeURIComponent(url.pathname.split("/").filter(Boolean).pop() || text);
  } catch (_) {
    return text;
  }
}

let audio = null;
function beep() {
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.35);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.35);
  } catch (_) {
    /* no audio: the highlight still shows */
  }
}

if (S.token) start(S.token);
else signIn(app, "门店看板 Store dashboard", `门店 Store: ${storeId}`, start);
