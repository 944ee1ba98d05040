// Host console: the live, merged question feed with pin / answered / dismiss / restore,
// keyboard shortcuts, and the room's booking and coupon counters. Real time over /host.
//
// Question text comes from viewers and community groups: it is hostile until proven
// otherwise and is only ever set with textContent.
import "./host.css";
import { apiClient, ApiError } from "./lib/api.js";
import { h, replaceChildren } from "./lib/dom.js";
import { connect } from "./lib/socket.js";
import { pageToken, forgetToken, signIn, connectionIndicator, formatTime } from "./lib/page.js";

const room = document.body.dataset.room;
const app = document.getElementById("app");
const scopeKey = `host:${room}`;

const VIEWS = [
  { id: "live", label: "待回答 Live", statuses: ["new", "pinned"] },
  { id: "held", label: "待审核 Held", statuses: ["held"] },
  { id: "archive", label: "已处理 Archive", statuses: ["answered", "dismissed"] },
];

const STATUS_TEXT = {
  new: "待回答 new",
  pinned: "置顶中 pinned",
  answered: "已回答 answered",
  dismissed: "已忽略 dismissed",
  held: "待审核 held",
};

const S = {
  token: pageToken(scopeKey),
  questions: new Map(), // id -> card
  view: "live",
  sort: "top",
  selected: null, // question id
  merging: null, // question id being merged: the host picks the card it joins
  notSame: new Set(), // cards whose merge suggestion the host turned down (this console)
  bookings: 0,
  bookingFeed: [], // latest booking.created
  coupons: new Map(), // campaign id -> {title, remaining, quantity}
  viewers: null,
  title: "",
  message: "",
};

let http = null;
let socket = null;
const conn = connectionIndicator();
const listEl = h("ol", { class: "questions", role: "listbox", "aria-label": "问题 Questions", tabindex: "0" });
const countersEl = h("div", { class: "counters" });
const feedEl = h("ol", { class: "booking-feed", "aria-label": "最新预约 Latest bookings" });
const toolbarEl = h("div", { class: "toolbar" });
const messageEl = h("p", { class: "message", role: "status", "aria-live": "polite" });
const titleEl = h("h1");

function start(token) {
  S.token = token;
  http = apiClient("", () => S.token);
  replaceChildren(
    app,
    h(
      "header",
      { class: "topbar" },
      titleEl,
      conn.el,
      h("button", { type: "button", class: "signout", text: "退出 Sign out", onclick: signOut })
    ),
    countersEl,
    h(
      "div",
      { class: "columns" },
      h(
        "section",
        { class: "feed", "aria-labelledby": "q-title" },
        h("h2", { id: "q-title", text: "观众提问 Questions" }),
        toolbarEl,
        h(
          "p",
          { class: "muted keys" },
          "快捷键 Keys: ",
          h("kbd", { text: "j" }),
          "/",
          h("kbd", { text: "k" }),
          " 上下 move · ",
          h("kbd", { text: "p" }),
          " 置顶 pin · ",
          h("kbd", { text: "a" }),
          " 已回答 answered · ",
          h("kbd", { text: "d" }),
          " 忽略 dismiss · ",
          h("kbd", { text: "r" }),
          " 恢复 restore"
        ),
        messageEl,
        listEl
      ),
      h("aside", { class: "side", "aria-labelledby": "b-title" }, h("h2", { id: "b-title", text: "最新预约 Latest bookings" }), feedEl)
    )
  );
  renderAll();
  load();
  socket = connect("", "/host", () => ({ token: S.token, batch: true }), (state, detail) => {
    conn.set(state, detail);
    if (state === "connected") load(); // whatever happened while away
    if (state === "refused") signOut(detail);
  });
  // The room's events come as host.batch (asked for above): the last 250 ms, in order,
  // each card and counter once with its latest state; each goes to its handler below.
  const handlers = {};
  const on = (name, fn) => {
    handlers[name] = fn;
    socket.on(name, fn); // a server without batches still sends single events
  };
  socket.on("host.batch", (b) => {
    for (const { event, data } of (b && b.events) || []) if (handlers[event]) handlers[event](data);
  });
  on("question.new", upsert);
  on("question.updated", upsert);
  on("question.pinned", (d) => upsert({ ...(d.question || d), status: "pinned" }));
  on("question.answered", (d) => upsert({ ...(d.question || d), status: "answered" }));
  on("booking.created", (d) => {
    S.bookings += 1;
    S.bookingFeed.unshift(d);
    S.bookingFeed.length = Math.min(S.bookingFeed.length, 20);
    renderCounters();
    renderFeed();
  });
  on("booking.count", (d) => {
    const n = d.count ?? d.bookings ?? d.total;
    if (typeof n === "number") S.bookings = n;
    renderCounters();
  });
  on("coupon.stock", (d) => {
    const id = d.campaign_id || d.id;
    if (!id) return;
    S.coupons.set(id, { ...(S.coupons.get(id) || {}), ...d });
    renderCounters();
  });
  on("coupon.dropped", (d) => {
    const c = d.campaign || d;
    const id = c.campaign_id || c.id;
    if (id) S.coupons.set(id, { ...(S.coupons.get(id) || {}), ...c });
    renderCounters();
  });
  on("room.viewers", (d) => {
    S.viewers = d.viewers;
    renderCounters();
  });
  document.addEventListener("keydown", onKey);
}

function signOut(reason) {
  forgetToken(scopeKey);
  if (socket) socket.disconnect();
  document.removeEventListener("keydown", onKey);
  signIn(app, "主播控制台 Host console", `房间 Room: ${room}`, start, typeof reason === "string" ? reason : "");
}

async function load() {
  try {
    const roomInfo = await http.get(`/api/v1/rooms/${encodeURIComponent(room)}`);
    S.title = roomInfo.title || "";
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return signOut(err.message);
  }
  try {
    const known = [...S.questions.keys()]; // cards arriving live during the request stay
    const body = await http.get(`/api/v1/rooms/${encodeURIComponent(room)}/questions`, {
      query: { status: "new,pinned,held,answered,dismissed", sort: S.sort, limit: 500 },
    });
    const list = Array.isArray(body) ? body : (body && body.questions) || [];
    if (list.length < 500) {
      // A complete listing: a card missing from it was merged away meanwhile.
      const ids = new Set(list.map((q) => q.id));
      for (const id of known) if (!ids.has(id)) S.questions.delete(id);
    }
    for (const q of list) store(q);
  } catch (err) {
    if (err instanceof ApiError && err.status !== 404) say(`加载问题失败 Could not load questions: ${err.message}`);
  }
  renderAll();
}

function upsert(data) {
  const q = data && (data.question || data.card || data);
  if (!q || !q.id) return;
  store(q);
  renderList();
}

// A merged card is gone for good (its askers joined another card): it leaves the list.
function store(q) {
  if (q.status === "merged") S.questions.delete(q.id);
  else S.questions.set(q.id, { ...(S.questions.get(q.id) || {}), ...q });
}

const MERGEABLE = ["new", "pinned"];

function mergeable(q) {
  return Boolean(q) && MERGEABLE.includes(q.status || "new");
}

function snippet(q, n = 30) {
  const text = (q && q.text) || "";
  return text.length > n ? `${text.slice(0, n)}…` : text;
}

function say(text) {
  messageEl.textContent = text;
}

function visible() {
  const view = VIEWS.find((v) => v.id === S.view);
  const list = [...S.questions.values()].filter((q) => view.statuses.includes(q.status || "new"));
  const score = (q) => (q.score ?? 0) || (q.askers || 0) * 3 + (q.votes || 0) + (q.groups_count || count(q.groups));
  const newest = (q) => Date.parse(q.last_asked_at || q.updated_at || q.created_at || 0) || q.ts || 0;
  list.sort((a, b) => {
    if ((a.status === "pinned") !== (b.status === "pinned")) return a.status === "pinned" ? -1 : 1;
    return S.sort === "new" ? newest(b) - newest(a) : score(b) - score(a) || newest(b) - newest(a);
  });
  return list;
}

function count(value) {
  if (Array.isArray(value)) return value.length;
  return typeof value === "number" ? value : 0;
}

function renderAll() {
  titleEl.textContent = `主播控制台 Host console · ${S.title || room}`;
  renderToolbar();
  renderCounters();
  renderList();
  renderFeed();
}

function renderToolbar() {
  replaceChildren(
    toolbarEl,
    h(
      "div",
      { class: "tabs", role: "group", "aria-label": "视图 View" },
      VIEWS.map((v) =>
        h("button", {
          type: "button",
          "aria-pressed": String(S.view === v.id),
          "data-view": v.id,
          text: `${v.label} (${[...S.questions.values()].filter((q) => v.statuses.includes(q.status || "new")).length})`,
          onclick: () => {
            S.view = v.id;
            S.selected = null;
            renderAll();
          },
        })
      )
    ),
    h(
      "div",
      { class: "tabs", role: "group", "aria-label": "排序 Sort" },
      [
        ["top", "热门 Top"],
        ["new", "最新 New"],
      ].map(([id, label]) =>
        h("button", {
          type: "button",
          "aria-pressed": String(S.sort === id),
          text: label,
          onclick: () => {
            S.sort = id;
            renderAll();
          },
        })
      )
    )
  );
}

function renderCounters() {
  const items = [
    h("div", { class: "counter", "data-counter": "bookings" }, h("b", { text: String(S.bookings) }), h("span", { text: "预约 Bookings" })),
  ];
  if (S.viewers !== null && S.viewers !== undefined) {
    items.push(h("div", { class: "counter", "data-counter": "viewers" }, h("b", { text: String(S.viewers) }), h("span", { text: "在线 Viewers" })));
  }
  for (const [id, c] of S.coupons) {
    const left = c.remaining ?? "?";
    items.push(
      h(
        "div",
        { class: "counter", "data-counter": `coupon-${id}` },
        h("b", { text: c.quantity ? `${left} / ${c.quantity}` : String(left) }),
        h("span", { text: `券 Coupon ${c.title || id}` })
      )
    );
  }
  replaceChildren(countersEl, items);
}

function renderFeed() {
  replaceChildren(
    feedEl,
    S.bookingFeed.length
      ? S.bookingFeed.map((b) => {
          const booking = b.booking || b;
          return h(
            "li",
            { class: "card" },
            h("strong", { text: booking.store_name || booking.store_id || "" }),
            " ",
            h("span", { text: booking.slot ? String(booking.slot).replace("T", " ").slice(0, 16) : "" }),
            h("div", { class: "muted", text: [booking.service, formatTime(b.ts)].filter(Boolean).join(" · ") })
          );
        })
      : [h("li", { class: "muted", text: "暂无 None yet" })]
  );
}

function renderList() {
  const list = visible();
  if (S.selected && !list.some((q) => q.id === S.selected)) S.selected = null;
  if (S.merging && !(mergeable(S.questions.get(S.merging)) && list.some((q) => q.id === S.merging))) {
    S.merging = null; // the card left the feed meanwhile (answered, merged elsewhere...)
    say("");
  }
  if (!S.selected && list.length) S.selected = list[0].id;
  renderToolbar();
  // A live update re-renders the list: the focused button (a keyboard user's place, the
  // merge target just offered) is found again on its card after the re-render.
  const active = document.activeElement;
  const focused =
    active && listEl.contains(active) && active.closest("[data-question-id]")
      ? { id: active.closest("[data-question-id]").getAttribute("data-question-id"), action: active.getAttribute("data-action") }
      : null;
  replaceChildren(
    listEl,
    list.length
      ? list.map((q) => renderCard(q))
      : [h("li", { class: "empty muted", text: "没有问题 No questions here" })]
  );
  listEl.setAttribute("aria-activedescendant", S.selected ? `q-${S.selected}` : "");
  if (focused && focused.action) {
    const card = document.getElementById(`q-${focused.id}`);
    const again = card && card.querySelector(`[data-action="${focused.action}"]`);
    if (again) again.focus();
  }
}

function renderCard(q) {
  const askers = q.askers ?? 1;
  const groups = count(q.groups);
  const status = q.status || "new";
  const archived = status === "answered" || status === "dismissed";
  const source = S.merging ? S.questions.get(S.merging) : null;
  const isSource = S.merging === q.id;
  const canMerge = mergeable(q) && [...S.questions.values()].some((o) => o.id !== q.id && mergeable(o));
  return h(
    "li",
    {
      id: `q-${q.id}`,
      class: `question status-${status}` + (S.selected === q.id ? " selected" : "") + (isSource ? " merging" : ""),
      role: "option",
      "aria-selected": String(S.selected === q.id),
      "data-question-id": q.id,
      onclick: (e) => {
        if (e.target.closest("button")) return;
        S.selected = q.id;
        renderList();
      },
    },
    h("p", { class: "q-text", text: q.text || "" }),
    h(
      "p",
      { class: "q-meta muted" },
      h("span", { class: "badge", text: STATUS_TEXT[status] || status }),
      " ",
      h("span", { text: groups ? `${askers} 人 / ${groups} 个群提问 · asked by ${askers} in ${groups} groups` : `${askers} 人提问 · asked by ${askers}` }),
      q.votes ? h("span", { text: ` · 👍 ${q.votes}` }) : null,
      Array.isArray(q.store_ids) && q.store_ids.length ? h("span", { text: ` · ${q.store_ids.slice(0, 3).join(", ")}` }) : null,
      q.held_reason ? h("span", { class: "error", text: ` · ${q.held_reason}` }) : null
    ),
    renderSuggestion(q),
    h(
      "div",
      { class: "q-actions" },
      !archived && status !== "held" && h("button", { type: "button", "data-action": "pin", disabled: status === "pinned", text: "置顶 Pin", onclick: () => act(q.id, "pin") }),
      !archived && status !== "held" && h("button", { type: "button", "data-action": "answer", class: "primary", text: "已回答 Answered", onclick: () => act(q.id, "answer") }),
      status === "held" && h("button", { type: "button", "data-action": "approve", text: "通过 Approve", onclick: () => act(q.id, "approve") }),
      !archived && h("button", { type: "button", "data-action": "dismiss", text: "忽略 Dismiss", onclick: () => act(q.id, "dismiss") }),
      archived && h("button", { type: "button", "data-action": "restore", text: "恢复 Restore", onclick: () => act(q.id, "restore") }),
      askers >= 2 &&
        h("button", {
          type: "button",
          "data-action": "split",
          text: "拆分 Split",
          "aria-label": `拆分：最近一位提问者成为新问题 Split the most recent asker off into a new question: ${snippet(q)}`,
          onclick: () => split(q.id),
        }),
      canMerge &&
        !S.merging &&
        h("button", {
          type: "button",
          "data-action": "merge",
          text: "合并 Merge",
          "aria-label": `合并：选择要并入的问题 Merge into another question: ${snippet(q)}`,
          onclick: () => startMerge(q.id),
        }),
      isSource &&
        h("button", {
          type: "button",
          "data-action": "merge-cancel",
          text: "取消合并 Cancel merge",
          "aria-label": "取消合并 Cancel merge",
          onclick: cancelMerge,
        }),
      source &&
        !isSource &&
        mergeable(q) &&
        h("button", {
          type: "button",
          "data-action": "merge-into",
          class: "primary",
          text: "并入这里 Merge here",
          "aria-label": `把「${snippet(source)}」并入此问题 Merge "${snippet(source)}" into this question: ${snippet(q)}`,
          onclick: () => merge(source.id, q.id),
        })
    )
  );
}

// The matcher found this card close to another but not close enough to merge by itself
// (`similar_to`): the host merges with one click, or says they differ.
function renderSuggestion(q) {
  const other = q.similar_to && S.questions.get(q.similar_to);
  if (!other || !mergeable(q) || !mergeable(other) || S.merging || S.notSame.has(q.id)) return null;
  return h(
    "p",
    { class: "q-suggest", "data-similar-to": other.id },
    h("span", { text: `可能与「${snippet(other)}」相同 Same as "${snippet(other)}"? ` }),
    h("button", {
      type: "button",
      "data-action": "merge-suggested",
      class: "primary",
      text: "合并 Merge",
      "aria-label": `把此问题并入「${snippet(other)}」 Merge this question into "${snippet(other)}"`,
      onclick: () => merge(q.id, other.id),
    }),
    " ",
    h("button", {
      type: "button",
      "data-action": "not-same",
      text: "不同 Not the same",
      onclick: () => {
        S.notSame.add(q.id);
        renderList();
      },
    })
  );
}

async function split(id) {
  const before = S.questions.get(id);
  if (!before) return;
  try {
    const result = await http.post(`/api/v1/questions/${encodeURIComponent(id)}/split`);
    if (result && result.question) store(result.question);
    if (result && result.new_question) store(result.new_question);
    say(`已拆分 Split: ${snippet(result && result.new_question, 40)}`);
  } catch (err) {
    say(`拆分失败 Split failed: ${err.message}`);
  }
  renderList();
}

function startMerge(id) {
  S.merging = id;
  S.selected = id;
  say(`选择要并入的问题 Choose the question to merge "${snippet(S.questions.get(id), 40)}" into (Esc 取消 cancel)`);
  renderList();
  const target = listEl.querySelector("[data-action=merge-into]");
  if (target) target.focus();
}

function cancelMerge() {
  const id = S.merging;
  S.merging = null;
  say("");
  renderList();
  const el = id && document.getElementById(`q-${id}`);
  const button = el && el.querySelector("[data-action=merge]");
  if (button) button.focus();
}

async function merge(id, into) {
  S.merging = null;
  try {
    const result = await http.post(`/api/v1/questions/${encodeURIComponent(id)}/merge`, { into });
    if (result && result.question) store(result.question);
    else S.questions.delete(id);
    if (result && result.into) store(result.into);
    S.selected = (result && result.into && result.into.id) || into;
    say(`已合并 Merged into: ${snippet(result && result.into, 40)}`);
  } catch (err) {
    say(`合并失败 Merge failed: ${err.message}`);
  }
  renderList();
}

const OPTIMISTIC = { pin: "pinned", answer: "answered", dismiss: "dismissed", restore: "new", approve: "new" };

async function act(id, action) {
  const before = S.questions.get(id);
  if (!before) return;
  try {
    const result = await http.post(`/api/v1/questions/${encodeURIComponent(id)}/${action}`, {});
    const card = (result && (result.question || result.card || result)) || {};
    S.questions.set(id, { ...before, status: OPTIMISTIC[action], ...(card.id === id ? card : {}) });
    if (action === "pin") {
      // Only one card is pinned at a time: the previous one goes back to the feed.
      for (const [otherId, q] of S.questions) {
        if (otherId !== id && q.status === "pinned") S.questions.set(otherId, { ...q, status: "new" });
      }
    }
    say(`${OPTIMISTIC[action]}: ${(before.text || "").slice(0, 40)}`);
  } catch (err) {
    say(`操作失败 Failed: ${err.message}`);
  }
  renderList();
}

function onKey(event) {
  const target = event.target;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT" || target.isContentEditable)) return;
  const list = visible();
  const index = list.findIndex((q) => q.id === S.selected);
  const key = event.key.toLowerCase();
  if (key === "escape" && S.merging) {
    event.preventDefault();
    cancelMerge();
    return;
  }
  if (key === "j" || key === "arrowdown") {
    if (list.length) S.selected = list[Math.min(list.length - 1, index + 1)].id;
  } else if (key === "k" || key === "arrowup") {
    if (list.length) S.selected = list[Math.max(0, index - 1)].id;
  } else if (S.selected && key in KEY_ACTIONS) {
    const q = S.questions.get(S.selected);
    const archived = q && (q.status === "answered" || q.status === "dismissed");
    const action = KEY_ACTIONS[key];
    if ((action === "restore") !== Boolean(archived)) return;
    event.preventDefault();
    act(S.selected, action);
    return;
  } else return;
  event.preventDefault();
  renderList();
  const el = document.getElementById(`q-${S.selected}`);
  if (el) el.scrollIntoView({ block: "nearest" });
}

const KEY_ACTIONS = { p: "pin", a: "answer", d: "dismiss", r: "restore" };

if (S.token) start(S.token);
else signIn(app, "主播控制台 Host console", `房间 Room: ${room}`, start);
