// The brand's community groups report: per group (name, store) members joined, questions,
// join gifts issued and redeemed, bookings and visits by members, as hand-drawn SVG bars
// (no chart library) and a table; totals on top. GET /api/v1/brands/{brand}/groups/stats
// (ops) every 3 s while the tab is visible, paused while it is hidden.
import "./report.css";
import { apiClient } from "./lib/api.js";
import { h, svg, replaceChildren } from "./lib/dom.js";
import { pageToken, forgetToken, signIn } from "./lib/page.js";

const brand = document.body.dataset.brand;
const app = document.getElementById("app");
const scopeKey = `report:${brand}`;
const REFRESH_MS = 3000;
const TITLE = "社群报表 Group report";
const HINT = `品牌 Brand: ${brand} · 需要运营令牌 An ops token is needed`;

const TOTALS = [
  { key: "members", label: "现有成员 Members now" },
  { key: "members_joined", label: "入群 Joined" },
  { key: "questions", label: "提问 Questions" },
  { key: "gifts_issued", label: "入群礼发放 Gifts issued" },
  { key: "gifts_redeemed", label: "入群礼核销 Gifts redeemed" },
  { key: "bookings", label: "预约 Bookings" },
  { key: "visits", label: "到店 Visits" },
];
const COLUMNS = [
  { key: "members", label: "现有 Members" },
  { key: "members_joined", label: "入群 Joined" },
  { key: "members_left", label: "退群 Left" },
  { key: "questions", label: "提问 Questions" },
  { key: "gifts_issued", label: "发礼 Gifts issued" },
  { key: "gifts_redeemed", label: "核销 Redeemed" },
  { key: "bookings", label: "预约 Bookings" },
  { key: "preview_bookings", label: "预告预约 Preview bookings" },
  { key: "visits", label: "到店 Visits" },
];
const CHARTS = [
  {
    key: "joined",
    title: "入群人数 Members joined",
    series: [{ key: "members_joined", label: "入群 Joined", cls: "s-joined" }],
  },
  {
    key: "gifts",
    title: "入群礼 Gifts issued vs redeemed",
    series: [
      { key: "gifts_issued", label: "发放 Issued", cls: "s-issued" },
      { key: "gifts_redeemed", label: "核销 Redeemed", cls: "s-redeemed" },
    ],
  },
  {
    key: "visits",
    title: "预约与到店 Bookings vs visits",
    series: [
      { key: "bookings", label: "预约 Bookings", cls: "s-bookings" },
      { key: "visits", label: "到店 Visits", cls: "s-visits" },
    ],
  },
];

const S = { token: pageToken(scopeKey), data: null, error: "", updated: null, previous: new Map() };
let http = null;
let timer = null;
let loading = false;

const updatedEl = h("span", { class: "muted updated", role: "status" });
const bodyEl = h("div", { class: "report-body" });

function start(token) {
  S.token = token;
  S.data = null;
  S.error = "";
  http = apiClient("", () => S.token);
  // The frame is built once: each refresh redraws the figures, never the controls.
  replaceChildren(
    app,
    h(
      "header",
      { class: "topbar" },
      h("h1", { text: `${TITLE} · ${brand}` }),
      updatedEl,
      h("button", { type: "button", text: "刷新 Refresh", onclick: () => load() }),
      h("button", { type: "button", text: "退出 Sign out", onclick: () => signOut("") })
    ),
    bodyEl
  );
  load();
}

function signOut(reason) {
  forgetToken(scopeKey);
  clearTimeout(timer);
  timer = null;
  http = null;
  S.token = null;
  signIn(app, TITLE, HINT, start, reason || "");
}

function refusal(err) {
  // The server's problem+json `detail` says why; the prefix says what to do about it.
  if (err.status === 401) return `令牌无效或已过期 Token invalid or expired: ${err.message}`;
  return `无权查看 Not allowed: ${err.message}`;
}

async function load() {
  clearTimeout(timer);
  timer = null;
  if (loading || !http) return;
  loading = true;
  try {
    const data = await http.get(`/api/v1/brands/${encodeURIComponent(brand)}/groups/stats`);
    S.previous = rowsById(S.data);
    S.data = data;
    S.error = "";
    S.updated = new Date();
  } catch (err) {
    loading = false;
    if (err.status === 401 || err.status === 403) return signOut(refusal(err));
    S.error = `加载失败 Could not load: ${err.message}`;
  }
  loading = false;
  render();
  if (!document.hidden) timer = setTimeout(load, REFRESH_MS);
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && !timer && http && S.token) load();
});

let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  // The charts are drawn at the page's width (readable text at 360 px and on a wall).
  resizeTimer = setTimeout(() => S.data && render(), 150);
});

function rowsById(data) {
  const out = new Map();
  for (const g of (data && data.groups) || []) out.set(g.group_id, JSON.stringify(g));
  return out;
}

const n = (v) => (typeof v === "number" && isFinite(v) ? v : 0);

function render() {
  const d = S.data;
  const groups = (d && d.groups) || [];
  updatedEl.textContent = S.updated ? `更新于 Updated ${S.updated.toLocaleTimeString("zh-CN", { hour12: false })}` : "";
  replaceChildren(
    bodyEl,
    S.error && h("p", { class: "error", role: "alert", text: S.error }),
    d && totals(groups),
    d && groups.length === 0 && h("p", { class: "card muted empty", text: "这个品牌还没有社群 No community groups for this brand yet" }),
    d && groups.length > 0 && h("div", { class: `charts cols-${columns()}` }, CHARTS.map((c) => chartCard(c, groups))),
    d && groups.length > 0 && table(groups)
  );
}

function totals(groups) {
  const sum = (key) => groups.reduce((acc, g) => acc + n(g[key]), 0);
  const issued = sum("gifts_issued");
  const bookings = sum("bookings");
  return h(
    "div",
    { class: "counters" },
    h("div", { class: "counter", "data-total": "groups" }, h("b", { text: String(groups.length) }), h("span", { text: "社群 Groups" })),
    TOTALS.map((t) => h("div", { class: "counter", "data-total": t.key }, h("b", { text: String(sum(t.key)) }), h("span", { text: t.label }))),
    h("div", { class: "counter rate", "data-total": "redeem_rate" }, h("b", { text: rate(sum("gifts_redeemed"), issued) }), h("span", { text: "核销率 Redemption rate" })),
    h("div", { class: "counter rate", "data-total": "visit_rate" }, h("b", { text: rate(sum("visits"), bookings) }), h("span", { text: "到店率 Visit rate" }))
  );
}

function rate(part, whole) {
  return whole > 0 ? `${Math.round((100 * part) / whole)}%` : "—";
}

function groupLabel(g) {
  return `${g.name || g.group_id} · ${g.store_id}`;
}

function chartCard(chart, groups) {
  const id = `chart-${chart.key}`;
  return h(
    "section",
    { class: "card chart-card", "aria-labelledby": id },
    h("h2", { id, text: chart.title }),
    chart.series.length > 1 &&
      h(
        "ul",
        { class: "legend" },
        chart.series.map((s) => h("li", null, h("span", { class: `swatch ${s.cls}`, "aria-hidden": "true" }), s.label))
      ),
    barChart(chart, groups)
  );
}

const CHART_GAP = 12;

/** How many charts side by side: one on a phone, up to three on a wide screen. */
function columns() {
  const width = bodyEl.clientWidth || 360;
  return width >= 1000 ? 3 : width >= 680 ? 2 : 1;
}

// One row per group: its label on a line of its own, then one bar per series with the
// value at the bar's end. Drawn at the card's width so text stays 13 px on any screen.
function barChart(chart, groups) {
  const cols = columns();
  // The card's inner width: its share of the row less the gaps, padding and border.
  const width = Math.max(240, Math.floor(((bodyEl.clientWidth || 360) - (cols - 1) * CHART_GAP) / cols) - 26);
  const labelH = 20;
  const barH = 16;
  const gap = 4;
  const rowGap = 12;
  const valueW = 44;
  const rowH = labelH + chart.series.length * (barH + gap) + rowGap;
  const max = Math.max(1, ...groups.flatMap((g) => chart.series.map((s) => n(g[s.key]))));
  const scale = (width - valueW) / max;
  const root = svg("svg", {
    class: `chart bars chart-${chart.key}`,
    "data-chart": chart.key,
    width,
    height: groups.length * rowH,
    viewBox: `0 0 ${width} ${groups.length * rowH}`,
    role: "img",
    "aria-label": `${chart.title}: ${groups
      .map((g) => `${groupLabel(g)} ${chart.series.map((s) => `${s.label} ${n(g[s.key])}`).join(", ")}`)
      .join("; ")}`,
  });
  groups.forEach((g, i) => {
    const y0 = i * rowH;
    const row = svg("g", { class: "row", "data-group": g.group_id });
    row.appendChild(svg("text", { x: 0, y: y0 + 14, class: "label", text: fitText(groupLabel(g), width) }));
    chart.series.forEach((s, j) => {
      const value = n(g[s.key]);
      const y = y0 + labelH + j * (barH + gap);
      const bar = svg("rect", {
        x: 0,
        y,
        width: Math.max(value > 0 ? 2 : 1, value * scale),
        height: barH,
        rx: 3,
        class: `bar ${s.cls}`,
        "data-group": g.group_id,
        "data-series": s.key,
        "data-value": value,
      });
      bar.appendChild(svg("title", { text: `${groupLabel(g)} · ${s.label}: ${value}` }));
      row.appendChild(bar);
      row.appendChild(svg("text", { x: Math.max(value * scale, 1) + 6, y: y + barH - 3, class: "value", "data-series": s.key, text: String(value) }));
    });
    root.appendChild(row);
  });
  return root;
}

/** Cut a label to about `width` px of 13 px text (a CJK character is about 13 px, other
 * characters about 7): SVG text does not wrap. The full name is in the bar's title. */
function fitText(text, width) {
  let used = 0;
  let out = "";
  for (const ch of text) {
    used += /[\u2e80-\uffff]/.test(ch) ? 13 : 7.2;
    if (used > width - 14) return `${out}…`;
    out += ch;
  }
  return out;
}

function table(groups) {
  return h(
    "section",
    { class: "card", "aria-labelledby": "groups-title" },
    h("h2", { id: "groups-title", text: "各社群 Per group" }),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "groups" },
        h(
          "thead",
          null,
          h("tr", null, h("th", { scope: "col", text: "社群 Group" }), COLUMNS.map((c) => h("th", { scope: "col", text: c.label })))
        ),
        h(
          "tbody",
          null,
          groups.map((g) =>
            h(
              "tr",
              { class: changed(g) ? "changed" : "", "data-group": g.group_id },
              h(
                "th",
                { scope: "row" },
                h("span", { class: "name", text: g.name || g.group_id }),
                h("small", { class: "muted store", text: ` ${g.store_id}` })
              ),
              COLUMNS.map((c) => h("td", { "data-k": c.key, text: String(n(g[c.key])) }))
            )
          )
        )
      )
    )
  );
}

function changed(g) {
  return S.previous.size > 0 && S.previous.get(g.group_id) !== JSON.stringify(g);
}

if (S.token) start(S.token);
else signIn(app, TITLE, HINT, start);
