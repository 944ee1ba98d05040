// Funnel stats page: totals as a funnel chart, per-store bars and table, credit split,
// CSV export. Hand-drawn SVG (no chart library), refreshed every few seconds.
import "./stats.css";
import { apiClient } from "./lib/api.js";
import { h, svg, replaceChildren } from "./lib/dom.js";
import { pageToken, forgetToken, signIn } from "./lib/page.js";

const room = document.body.dataset.room;
const app = document.getElementById("app");
const scopeKey = `stats:${room}`;
const REFRESH_MS = 10000;

// Funnel steps in order; each names the fields a server may use for it.
const STEPS = [
  { key: "viewers", label: "观看 Viewers (unique)", names: ["viewers_unique", "unique_viewers", "viewers"] },
  { key: "taps", label: "点击预约 Booking taps", names: ["booking_taps", "taps"] },
  { key: "bookings", label: "预约 Bookings", names: ["bookings", "booked"] },
  { key: "arrivals", label: "到店 Arrivals", names: ["arrivals", "arrived", "visits"] },
  { key: "redeemed", label: "核销 Coupons redeemed", names: ["coupons_redeemed", "redeemed", "redemptions"] },
];
const EXTRA = [
  { label: "峰值在线 Peak viewers", names: ["viewers_peak", "peak_viewers"] },
  { label: "取消 Cancellations", names: ["cancellations", "cancelled"] },
  { label: "预告预约 Pre-bookings (preview)", names: ["preview_bookings"] },
  { label: "成交 Sales (¥)", names: ["sales_amount"] },
  { label: "领券 Coupons claimed", names: ["coupons_claimed", "claimed", "claims"] },
  { label: "核销金额 Redeemed amount (¥)", names: ["redeemed_amount", "order_amount", "redeemed_order_amount", "amount"] },
];

const S = { token: pageToken(scopeKey), data: null, error: "", updated: null };
let http = null;
let timer = null;

function pick(obj, names) {
  if (!obj) return undefined;
  for (const n of names) if (typeof obj[n] === "number") return obj[n];
  return undefined;
}

function totalsOf(data) {
  return (data && (data.total || data.totals || data.room || data)) || {};
}

function storesOf(data) {
  const raw = data && (data.stores || data.per_store || data.by_store);
  if (Array.isArray(raw)) return raw.map((s) => ({ id: s.store_id || s.id || s.scope, ...s }));
  if (raw && typeof raw === "object") return Object.entries(raw).map(([id, s]) => ({ id, ...s }));
  return [];
}

function start(token) {
  S.token = token;
  http = apiClient("", () => S.token);
  load();
}

function signOut(reason) {
  forgetToken(scopeKey);
  clearTimeout(timer);
  signIn(app, "直播转化 Funnel", `房间 Room: ${room}`, start, reason || "");
}

async function load() {
  clearTimeout(timer);
  try {
    S.data = await http.get(`/api/v1/rooms/${encodeURIComponent(room)}/stats`);
    S.error = "";
    S.updated = new Date();
  } catch (err) {
    if (err.status === 401 || err.status === 403) return signOut(err.message);
    S.error = `加载失败 Could not load: ${err.message}`;
  }
  render();
  timer = setTimeout(load, REFRESH_MS);
}

async function exportCsv(button) {
  button.disabled = true;
  try {
    const resp = await http.request("GET", `/api/v1/rooms/${encodeURIComponent(room)}/stats`, {
      query: { format: "csv" },
      headers: { Accept: "text/csv" },
      raw: true,
    });
    const blob = await resp.blob();
    const link = h("a", { href: URL.createObjectURL(blob), download: `funnel-${room}.csv` });
    document.body.appendChild(link);
    link.click();
    setTimeout(() => {
      URL.revokeObjectURL(link.href);
      link.remove();
    }, 1000);
  } catch (err) {
    S.error = `导出失败 Export failed: ${err.message}`;
    render();
  }
  button.disabled = false;
}

function render() {
  const totals = totalsOf(S.data);
  const stores = storesOf(S.data);
  replaceChildren(
    app,
    h(
      "header",
      { class: "topbar" },
      h("h1", { text: `直播转化 Funnel · ${(S.data && S.data.title) || room}` }),
      h("span", { class: "muted", text: S.updated ? `更新于 Updated ${S.updated.toLocaleTimeString("zh-CN", { hour12: false })}` : "" }),
      h("button", { type: "button", text: "刷新 Refresh", onclick: load }),
      h("button", { type: "button", "data-action": "csv", text: "导出 CSV", onclick: (e) => exportCsv(e.currentTarget) }),
      h("button", { type: "button", text: "退出 Sign out", onclick: () => signOut("") })
    ),
    S.error && h("p", { class: "error", role: "alert", text: S.error }),
    S.data && [
      h(
        "section",
        { class: "card", "aria-labelledby": "funnel-title" },
        h("h2", { id: "funnel-title", text: "总漏斗 Funnel (total)" }),
        funnelChart(totals),
        h(
          "div",
          { class: "counters" },
          EXTRA.map((m) => {
            const v = pick(totals, m.names);
            return v === undefined ? null : h("div", { class: "counter" }, h("b", { text: fmt(v) }), h("span", { text: m.label }));
          }),
          creditCounters(S.data, totals)
        ),
        h("div", { class: "counters" }, rateCounters(totals))
      ),
      stores.length > 0 &&
        h(
          "section",
          { class: "card", "aria-labelledby": "stores-title" },
          h("h2", { id: "stores-title", text: "各门店 Per store" }),
          storeChart(stores),
          storeTable(stores)
        ),
      rowsSection("guides", "导购 Guides", S.data.guides, GUIDE_COLS, (g) => `${g.guide_name || g.guide_id} · ${g.store_id}`),
      rowsSection("groups", "社群 Community groups", S.data.groups, GROUP_COLS, (g) => `${g.name || g.group_id} · ${g.store_id}`),
      engagementSection(S.data.engagement),
    ]
  );
}

function fmt(v) {
  return typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : String(v ?? "");
}

function pct(part, whole) {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : "—";
}

function funnelChart(totals) {
  const steps = STEPS.map((s) => ({ ...s, value: pick(totals, s.names) })).filter((s) => s.value !== undefined);
  const width = 640;
  const rowH = 44;
  const labelW = 190;
  const max = Math.max(1, ...steps.map((s) => s.value));
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${steps.length * rowH + 8}`,
    class: "chart funnel",
    role: "img",
    "aria-label": steps.map((s) => `${s.label} ${s.value}`).join(", "),
  });
  steps.forEach((s, i) => {
    const y = i * rowH + 4;
    const barW = Math.max(2, ((width - labelW - 110) * s.value) / max);
    const prev = i > 0 ? steps[i - 1].value : null;
    chart.appendChild(svg("text", { x: 0, y: y + 24, class: "label", text: s.label }));
    chart.appendChild(svg("rect", { x: labelW, y: y + 6, width: barW, height: rowH - 14, rx: 4, class: `bar step-${i}` }));
    chart.appendChild(
      svg("text", {
        x: labelW + barW + 8,
        y: y + 24,
        class: "value",
        text: prev === null ? fmt(s.value) : `${fmt(s.value)}  (${pct(s.value, prev)})`,
      })
    );
  });
  return chart;
}

const RATES = [
  { label: "点击率 Tap rate", names: ["tap_rate"] },
  { label: "预约率 Booking rate", names: ["booking_rate"] },
  { label: "到店率 Arrival rate", names: ["arrival_rate"] },
  { label: "核销率 Redemption rate", names: ["redemption_rate"] },
  { label: "观看到店 Visit rate", names: ["visit_rate"] },
];

function rateCounters(totals) {
  return RATES.map((r) => {
    const v = pick(totals, r.names);
    return v === undefined ? null : h("div", { class: "counter rate" }, h("b", { text: `${(v * 100).toFixed(1)}%` }), h("span", { text: r.label }));
  });
}

function creditCounters(data, totals) {
  const rule = (data && data.credit) || {};
  const store = pick(totals, ["store_credit"]) ?? pick(rule, ["store", "store_amount"]);
  const liveTeam = pick(totals, ["live_team_credit"]) ?? pick(rule, ["live_team", "live_team_amount"]);
  const share = pick(rule, ["store_share", "share"]);
  if (store === undefined && liveTeam === undefined) return null;
  return [
    store !== undefined && h("div", { class: "counter" }, h("b", { text: fmt(store) }), h("span", { text: `门店分成 Store credit${share !== undefined ? ` (${Math.round(share * 100)}%)` : ""}` })),
    liveTeam !== undefined && h("div", { class: "counter" }, h("b", { text: fmt(liveTeam) }), h("span", { text: "直播团队 Live team credit" })),
  ];
}

function storeChart(stores) {
  const rows = stores
    .map((s) => ({
      name: s.store_name || s.name || s.id,
      bookings: pick(s, STEPS[2].names) || 0,
      arrivals: pick(s, STEPS[3].names) || 0,
      redeemed: pick(s, STEPS[4].names) || 0,
    }))
    .sort((a, b) => b.bookings - a.bookings)
    .slice(0, 15);
  const width = 640;
  const rowH = 30;
  const labelW = 190;
  const max = Math.max(1, ...rows.map((r) => r.bookings));
  const scale = (v) => ((width - labelW - 50) * v) / max;
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${rows.length * rowH + 30}`,
    class: "chart stores",
    role: "img",
    "aria-label": rows.map((r) => `${r.name}: ${r.bookings} bookings, ${r.arrivals} arrivals`).join("; "),
  });
  rows.forEach((r, i) => {
    const y = i * rowH;
    chart.appendChild(svg("text", { x: 0, y: y + 19, class: "label", text: r.name }));
    chart.appendChild(svg("rect", { x: labelW, y: y + 5, width: Math.max(1, scale(r.bookings)), height: 18, rx: 3, class: "bar step-2" }));
    chart.appendChild(svg("rect", { x: labelW, y: y + 9, width: scale(r.arrivals), height: 10, rx: 2, class: "bar step-3" }));
    chart.appendChild(svg("text", { x: labelW + scale(r.bookings) + 6, y: y + 19, class: "value", text: `${r.bookings}/${r.arrivals}` }));
  });
  const ly = rows.length * rowH + 16;
  chart.appendChild(svg("rect", { x: labelW, y: ly - 10, width: 12, height: 12, class: "bar step-2" }));
  chart.appendChild(svg("text", { x: labelW + 16, y: ly, class: "value", text: "预约 bookings" }));
  chart.appendChild(svg("rect", { x: labelW + 140, y: ly - 10, width: 12, height: 12, class: "bar step-3" }));
  chart.appendChild(svg("text", { x: labelW + 156, y: ly, class: "value", text: "到店 arrivals" }));
  return chart;
}

const GUIDE_COLS = [
  { label: "任务 Tasks", key: "tasks" },
  { label: "接单 Accepted", key: "accepted" },
  { label: "到店 Arrivals", key: "arrivals" },
  { label: "爽约 No-shows", key: "no_shows" },
  { label: "订单 Orders", key: "orders" },
  { label: "金额 Amount (¥)", key: "amount" },
  { label: "门店分成 Credit (¥)", key: "credit" },
];
const GROUP_COLS = [
  { label: "成员 Members", key: "members" },
  { label: "新入群 Joined", key: "members_joined" },
  { label: "提问 Questions", key: "questions" },
  { label: "入群礼 Gifts issued", key: "gifts_issued" },
  { label: "礼券核销 Gifts redeemed", key: "gifts_redeemed" },
  { label: "预约 Bookings", key: "bookings" },
  { label: "到店 Visits", key: "visits" },
];
const ENGAGEMENT = [
  { label: "评论提问 Comments (questions)", key: "live_comments" },
  { label: "闲聊 Chatter", key: "live_chatter" },
  { label: "点赞 Likes", key: "likes" },
  { label: "礼物 Gifts", key: "gifts" },
  { label: "平台在线峰值 Platform viewers (peak)", key: "platform_viewers_peak" },
];

// A section with one row per guide or group (nothing when the report has none).
function rowsSection(id, title, rows, cols, name) {
  if (!Array.isArray(rows) || rows.length === 0) return null;
  return h(
    "section",
    { class: "card", "aria-labelledby": `${id}-title`, "data-section": id },
    h("h2", { id: `${id}-title`, text: title }),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        null,
        h("thead", null, h("tr", null, h("th", { scope: "col", text: "" }), cols.map((c) => h("th", { scope: "col", text: c.label })))),
        h(
          "tbody",
          null,
          rows.map((r) => h("tr", null, h("th", { scope: "row", text: name(r) }), cols.map((c) => h("td", { text: fmt(r[c.key] ?? 0) }))))
        )
      )
    )
  );
}

function engagementSection(e) {
  if (!e || !ENGAGEMENT.some((m) => e[m.key])) return null;
  return h(
    "section",
    { class: "card", "aria-labelledby": "engagement-title", "data-section": "engagement" },
    h("h2", { id: "engagement-title", text: "平台互动 Platform engagement" }),
    h(
      "div",
      { class: "counters" },
      ENGAGEMENT.map((m) => h("div", { class: "counter" }, h("b", { text: fmt(e[m.key] ?? 0) }), h("span", { text: m.label })))
    )
  );
}

function storeTable(stores) {
  const credits = [
    { label: "门店分成 Store credit", names: ["store_credit"] },
    { label: "直播分成 Live team credit", names: ["live_team_credit"] },
  ];
  const cols = [...STEPS.slice(1), ...EXTRA.slice(1), ...credits].filter((c) => stores.some((s) => pick(s, c.names) !== undefined));
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      null,
      h("caption", { class: "sr", text: "各门店数据 Per-store numbers" }),
      h("thead", null, h("tr", null, h("th", { scope: "col", text: "门店 Store" }), cols.map((c) => h("th", { scope: "col", text: c.label })))),
      h(
        "tbody",
        null,
        stores.map((s) =>
          h(
            "tr",
            null,
            h("th", { scope: "row", text: s.store_name || s.name || s.id }),
            cols.map((c) => h("td", { text: fmt(pick(s, c.names) ?? "") }))
          )
        )
      )
    )
  );
}

if (S.token) start(S.token);
else signIn(app, "直播转化 Funnel", `房间 Room: ${room}`, start);
