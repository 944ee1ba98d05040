// The brand's leaderboard: guides and stores ranked by credit (the store side's share of
// sales, LIVE_CREDIT_STORE_SHARE, 70% by default; the live team gets the rest), with
// arrivals, orders and amounts. Polled every 2 s while the tab is visible.
import "./leaderboard.css";
import { apiClient } from "./lib/api.js";
import { h, replaceChildren, dateIn } from "./lib/dom.js";
import { pageToken, forgetToken, signIn } from "./lib/page.js";

const brand = document.body.dataset.brand;
const app = document.getElementById("app");
const scopeKey = `leaderboard:${brand}`;
const REFRESH_MS = 2000;
const PERIODS = [
  { key: "today", days: 1, label: "今天 Today" },
  { key: "7d", days: 7, label: "近 7 天 7 days" },
  { key: "30d", days: 30, label: "近 30 天 30 days" },
];

const S = { token: pageToken(scopeKey), period: "today", data: null, error: "", updated: null, previous: new Map() };
let http = null;
let timer = null;
let loading = false;

const updatedEl = h("span", { class: "muted updated" });
const bodyEl = h("div", { class: "board-body" });
const periodButtons = PERIODS.map((p) =>
  h("button", {
    type: "button",
    "data-period": p.key,
    text: p.label,
    onclick: () => {
      S.period = p.key;
      S.previous = new Map();
      S.data = null;
      load();
    },
  })
);

function start(token) {
  S.token = token;
  http = apiClient("", () => S.token);
  // The frame is built once: the 2 s refresh redraws the figures, never the controls.
  replaceChildren(
    app,
    h(
      "header",
      { class: "topbar" },
      h("h1", { text: `导购排行 Leaderboard · ${brand}` }),
      updatedEl,
      h("button", { type: "button", text: "退出 Sign out", onclick: () => signOut("") })
    ),
    h("div", { class: "periods", role: "group", "aria-label": "时间范围 Period" }, periodButtons),
    bodyEl
  );
  load();
}

function signOut(reason) {
  forgetToken(scopeKey);
  clearTimeout(timer);
  timer = null;
  signIn(app, "导购排行 Leaderboard", `品牌 Brand: ${brand}`, start, reason || "");
}

function range() {
  const period = PERIODS.find((p) => p.key === S.period) || PERIODS[0];
  // The browser's own days: the brand's stores are where their staff are.
  return { from: dateIn(undefined, 1 - period.days), to: dateIn(undefined, 0) };
}

async function load() {
  clearTimeout(timer);
  timer = null;
  if (loading || !http) return;
  loading = true;
  const period = S.period;
  try {
    const data = await http.get(`/api/v1/brands/${encodeURIComponent(brand)}/leaderboard`, { query: range() });
    if (period !== S.period) {
      loading = false; // the period changed meanwhile: ask again for the new one
      return load();
    }
    S.previous = rowsByKey(S.data);
    S.data = data;
    S.error = "";
    S.updated = new Date();
  } catch (err) {
    loading = false;
    if (err.status === 401 || err.status === 403) return signOut(err.message);
    S.error = `加载失败 Could not load: ${err.message}`;
  }
  loading = false;
  render();
  if (!document.hidden) timer = setTimeout(load, REFRESH_MS);
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && !timer && http && S.token) load();
});

function rowsByKey(data) {
  const out = new Map();
  if (!data) return out;
  for (const g of data.guides || []) out.set(`g|${g.store_id}|${g.guide_id}`, JSON.stringify(g));
  for (const s of data.stores || []) out.set(`s|${s.store_id}`, JSON.stringify(s));
  return out;
}

const money = (v) => `¥${(Math.round((Number(v) || 0) * 100) / 100).toFixed(2)}`;
const pct = (share) => `${Math.round(share * 100)}%`;

function render() {
  const d = S.data;
  const share = d && typeof d.store_share === "number" ? d.store_share : 0.7;
  const split = `门店 ${pct(share)} / 直播 ${pct(1 - share)} · Store ${pct(share)} / Live ${pct(1 - share)}`;
  const amount = d ? (d.stores || []).reduce((sum, s) => sum + (s.amount || 0), 0) : 0;
  const storeCredit = d ? (d.stores || []).reduce((sum, s) => sum + (s.credit || 0), 0) : 0;
  updatedEl.textContent = S.updated ? `更新于 Updated ${S.updated.toLocaleTimeString("zh-CN", { hour12: false })}` : "";
  for (const button of periodButtons) {
    const on = button.dataset.period === S.period;
    button.className = on ? "primary" : "";
    button.setAttribute("aria-pressed", on ? "true" : "false");
  }
  replaceChildren(
    bodyEl,
    S.error && h("p", { class: "error", role: "alert", text: S.error }),
    d &&
      h(
        "div",
        { class: "counters" },
        counter("成交 Sales", money(amount), "amount"),
        counter(`门店分成 Store credit (${pct(share)})`, money(storeCredit), "store-credit"),
        counter(`直播分成 Live team (${pct(1 - share)})`, money(d.live_team_credit), "live-credit")
      ),
    d && h("p", { class: "muted split", text: `分成 Split: ${split} · ${d.from} – ${d.to}` }),
    d && guidesTable(d.guides || [], share),
    d && storesTable(d.stores || [])
  );
}

function counter(label, value, key) {
  return h("div", { class: "counter", "data-counter": key }, h("b", { text: String(value) }), h("span", { text: label }));
}

function changed(key, row) {
  return S.previous.size > 0 && S.previous.get(key) !== JSON.stringify(row);
}

function guidesTable(rows, share) {
  return h(
    "section",
    { class: "card", "aria-labelledby": "guides-title" },
    h("h2", { id: "guides-title", text: "导购 Guides" }),
    rows.length === 0
      ? h("p", { class: "muted", text: "还没有数据 No data yet" })
      : h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "board guides" },
            h(
              "thead",
              null,
              h(
                "tr",
                null,
                // The ranking key first: on a phone it is what shows before scrolling.
                ["#", "导购 Guide", `分成 Credit (${pct(share)})`, `直播 Live (${pct(1 - share)})`, "到店 Arrivals",
                  "订单 Orders", "金额 Amount", "任务 Tasks", "接单 Accepted", "爽约 No-shows"].map((t) => h("th", { scope: "col", text: t }))
              )
            ),
            h(
              "tbody",
              null,
              rows.map((g, i) => {
                const key = `g|${g.store_id}|${g.guide_id}`;
                return h(
                  "tr",
                  { class: changed(key, g) ? "changed" : "", "data-guide-id": g.guide_id, "data-store-id": g.store_id },
                  h("td", { class: "rank", text: String(i + 1) }),
                  h(
                    "th",
                    { scope: "row" },
                    h("span", { class: "name", text: g.guide_name || g.guide_id }),
                    h("small", { class: "muted", text: ` ${g.store_id}` })
                  ),
                  num(money(g.credit), "credit"),
                  num(money((g.amount || 0) - (g.credit || 0)), "live"),
                  num(g.arrivals, "arrivals"),
                  num(g.orders, "orders"),
                  num(money(g.amount), "amount"),
                  num(g.tasks, "tasks"),
                  num(g.accepted, "accepted"),
                  num(g.no_shows, "no_shows")
                );
              })
            )
          )
        )
  );
}

function storesTable(rows) {
  return h(
    "section",
    { class: "card", "aria-labelledby": "stores-title" },
    h("h2", { id: "stores-title", text: "门店 Stores" }),
    rows.length === 0
      ? h("p", { class: "muted", text: "还没有数据 No data yet" })
      : h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "board stores" },
            h(
              "thead",
              null,
              h(
                "tr",
                null,
                ["#", "门店 Store", "分成 Credit", "到店 Arrivals", "订单 Orders", "金额 Amount", "任务 Tasks", "爽约 No-shows"].map((t) =>
                  h("th", { scope: "col", text: t })
                )
              )
            ),
            h(
              "tbody",
              null,
              rows.map((s, i) =>
                h(
                  "tr",
                  { class: changed(`s|${s.store_id}`, s) ? "changed" : "", "data-store-id": s.store_id },
                  h("td", { class: "rank", text: String(i + 1) }),
                  h("th", { scope: "row", text: s.store_name || s.store_id }),
                  num(money(s.credit), "credit"),
                  num(s.arrivals, "arrivals"),
                  num(s.orders, "orders"),
                  num(money(s.amount), "amount"),
                  num(s.tasks, "tasks"),
                  num(s.no_shows, "no_shows")
                )
              )
            )
          )
        )
  );
}

function num(value, key) {
  return h("td", { "data-k": key, text: String(value ?? 0) });
}

if (S.token) start(S.token);
else signIn(app, "导购排行 Leaderboard", `品牌 Brand: ${brand}`, start);
