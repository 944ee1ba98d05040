// The embeddable booking widget.
//
//   <script src="https://live.example.com/static/widget.js" data-room="r_demo" async></script>
//
// Optional attributes: data-api (server origin; default: where the script came from),
// data-lang ("zh" | "en"), data-external-id (the live platform's user id, OneID),
// data-target (CSS selector of the element to mount in; default: right after the tag),
// data-cities (JSON [{name, name_en, lat, lng}], the picker when location is refused).
//
// The widget lives in a shadow root so the host page's CSS cannot break it and ours
// cannot leak out. Server text is always inserted as text, never as HTML.
import "./widget.css";
import { apiClient, ApiError } from "./lib/api.js";
import { h, replaceChildren, store, randomId, localTime, localDate, dateIn } from "./lib/dom.js";
import { makeT, initialLang, formatDistance } from "./lib/i18n.js";
import { connect } from "./lib/socket.js";

const MESSAGES = {
  zh: {
    title: "预约到店",
    book: "预约到店体验",
    myBooking: "查看我的预约",
    close: "收起",
    switchLang: "Switch to English",
    langButton: "EN",
    locating: "正在获取您的位置…",
    locDenied: "未获得定位权限，请选择城市查找门店。",
    locFailed: "暂时无法定位，请选择城市查找门店。",
    city: "城市",
    findStores: "查找门店",
    useLocation: "使用我的位置",
    nearestStores: "附近门店",
    noStores: "附近暂无门店，请换一个城市。",
    openNow: "营业中",
    closedNow: "休息中",
    pickSlot: "选择到店时间",
    today: "今天",
    tomorrow: "明天",
    dayAfter: "后天",
    loading: "加载中…",
    noSlots: "这一天没有可预约的时段。",
    full: "已满",
    left: "余 {n}",
    slotLabel: "{time}，剩余 {n} 个名额",
    slotFullLabel: "{time}，已约满",
    details: "确认预约信息",
    service: "商品 / 服务",
    phone: "手机号（选填）",
    phoneHint: "方便门店联系您，不填也可以预约",
    phoneBad: "请输入有效的手机号，或留空",
    confirm: "确认预约",
    submitting: "正在提交…",
    back: "返回",
    changeStore: "换一家门店",
    booked: "预约成功",
    bookedAt: "{store} · {date} {time}",
    bookingId: "预约号",
    showAtStore: "到店时出示此页面即可",
    yourCoupon: "您的优惠券",
    couponCode: "券码",
    cancel: "取消预约",
    cancelled: "预约已取消",
    slotFull: "该时段刚刚约满，请选择其他时间。",
    roomEnded: "直播已结束，暂停预约。",
    roomNotLive: "直播尚未开始，稍后再来预约。",
    preview: "直播预告：现在即可提前预约到店。",
    error: "出错了：{detail}",
    network: "网络连接失败，请重试。",
    retry: "重试",
    bookedCount: "已有 {n} 人预约",
    couponDrop: "主播发券啦",
    claim: "立即领取",
    claiming: "领取中…",
    claimed: "已领取",
    soldOut: "已抢光",
    remaining: "剩余 {n} 张",
    couponValue: "立减 ¥{v}",
    percentOff: "立减 {v}%",
    gift: "到店赠品",
    limitReached: "您已领取过这张券",
    ask: "向主播提问",
    askLabel: "您的问题",
    askPlaceholder: "例如：定制蛋糕需要提前几天预约？",
    send: "发送",
    sent: "问题已发送，主播会尽快回答。",
    tooLong: "问题太长了",
    pinned: "主播正在回答",
    answered: "已回答",
    announcement: "主播公告",
  },
  en: {
    title: "Book a visit",
    book: "Book a store visit",
    myBooking: "My booking",
    close: "Close",
    switchLang: "切换到中文",
    langButton: "中文",
    locating: "Finding your location…",
    locDenied: "Location permission was not given. Choose a city to find stores.",
    locFailed: "Your location is not available. Choose a city to find stores.",
    city: "City",
    findStores: "Find stores",
    useLocation: "Use my location",
    nearestStores: "Stores near you",
    noStores: "No stores nearby. Try another city.",
    openNow: "Open now",
    closedNow: "Closed now",
    pickSlot: "Choose a time",
    today: "Today",
    tomorrow: "Tomorrow",
    dayAfter: "Day after",
    loading: "Loading…",
    noSlots: "No bookable times on this day.",
    full: "Full",
    left: "{n} left",
    slotLabel: "{time}, {n} places left",
    slotFullLabel: "{time}, fully booked",
    details: "Confirm your booking",
    service: "Product / service",
    phone: "Phone (optional)",
    phoneHint: "So the store can reach you; you can book without it",
    phoneBad: "Enter a valid phone number, or leave it empty",
    confirm: "Confirm booking",
    submitting: "Booking…",
    back: "Back",
    changeStore: "Choose another store",
    booked: "You're booked",
    bookedAt: "{store} · {date} {time}",
    bookingId: "Booking no.",
    showAtStore: "Show this card at the store",
    yourCoupon: "Your coupon",
    couponCode: "Code",
    cancel: "Cancel booking",
    cancelled: "Your booking is cancelled",
    slotFull: "That time just filled up. Please choose another.",
    roomEnded: "The live room has ended; bookings are closed.",
    roomNotLive: "The live room has not started yet.",
    preview: "Coming up live: you can book your visit now.",
    error: "Something went wrong: {detail}",
    network: "Network error, please try again.",
    retry: "Retry",
    bookedCount: "{n} people booked",
    couponDrop: "Coupon drop!",
    claim: "Claim",
    claiming: "Claiming…",
    claimed: "Claimed",
    soldOut: "Sold out",
    remaining: "{n} left",
    couponValue: "¥{v} off",
    percentOff: "{v}% off",
    gift: "Free gift in store",
    limitReached: "You already claimed this coupon",
    ask: "Ask the host",
    askLabel: "Your question",
    askPlaceholder: "e.g. How early should I order a custom cake?",
    send: "Send",
    sent: "Sent. The host will answer soon.",
    tooLong: "That question is too long",
    pinned: "Now answering",
    answered: "Answered",
    announcement: "From the host",
  },
};

// City centres for the picker when location is refused (overridable with data-cities).
const DEFAULT_CITIES = [
  { name: "上海", name_en: "Shanghai", lat: 31.2304, lng: 121.4737 },
  { name: "杭州", name_en: "Hangzhou", lat: 30.2741, lng: 120.1551 },
  { name: "苏州", name_en: "Suzhou", lat: 31.2989, lng: 120.5853 },
  { name: "北京", name_en: "Beijing", lat: 39.9042, lng: 116.4074 },
  { name: "广州", name_en: "Guangzhou", lat: 23.1291, lng: 113.2644 },
  { name: "深圳", name_en: "Shenzhen", lat: 22.5431, lng: 114.0579 },
  { name: "南京", name_en: "Nanjing", lat: 32.0603, lng: 118.7969 },
  { name: "成都", name_en: "Chengdu", lat: 30.5728, lng: 104.0668 },
  { name: "武汉", name_en: "Wuhan", lat: 30.5928, lng: 114.3055 },
  { name: "西安", name_en: "Xi'an", lat: 34.3416, lng: 108.9398 },
];

const PHONE_RE = /^\+?[0-9][0-9 ()-]{5,19}$/;
const QUESTION_MAX = 500;
const NEAREST_LIMIT = 5;

function launchFromUrl() {
  try {
    const fromQuery = new URLSearchParams(location.search).get("launch");
    if (fromQuery) return fromQuery;
    return new URLSearchParams(location.hash.replace(/^#/, "")).get("launch");
  } catch (_) {
    return null;
  }
}

function mount(script) {
  const room = script.dataset.room;
  if (!room) {
    console.error("live companion widget: data-room is missing on the script tag");
    return;
  }
  const apiBase = (script.dataset.api || new URL(script.src, location.href).origin).replace(/\/$/, "");
  const cities = parseCities(script.dataset.cities);
  const keyPrefix = `lc:${room}:`;
  // The platform's launch token (its mini-program or H5 page opens /embed/{room}?launch=...):
  // traded for the viewer of that platform identity, verified.
  const launch = script.dataset.launch || launchFromUrl();

  const S = {
    lang: initialLang(script.dataset.lang, store.get("lc:lang")),
    open: false,
    step: "idle", // idle | locating | picker | stores | slots | details | done
    locReason: "",
    cityIndex: 0,
    position: null,
    stores: [],
    storesLoading: false,
    store: null,
    storeTz: null,
    day: 0,
    slots: [],
    slotsLoading: false,
    slot: null,
    featured: [],
    service: "",
    phone: "",
    phoneError: "",
    submitting: false,
    idemKey: null,
    booking: store.get(keyPrefix + "booking"),
    error: "",
    roomStatus: "live",
    scheduledAt: null, // a scheduled broadcast's time: booking opens before it starts
    roomTitle: "",
    bookingCount: null,
    drops: new Map(), // campaign id -> {campaign fields, remaining, state}
    coupons: store.get(keyPrefix + "coupons", []), // claims: {code, campaign_id, qr_svg_url, ...}
    question: "",
    questionMsg: "",
    questionSending: false,
    pinned: null,
    announcement: "",
    offset: null,
  };
  const t = makeT(MESSAGES, () => S.lang);

  // --- viewer identity -------------------------------------------------------------
  let viewer = store.get(keyPrefix + "viewer");
  if (launch && viewer && viewer.launch !== launch) viewer = null; // another launch: its viewer
  const http = apiClient(apiBase, () => viewer && viewer.token);

  async function ensureViewer(force) {
    if (viewer && viewer.token && !force) return viewer;
    const path = `/api/v1/rooms/${encodeURIComponent(room)}/viewers`;
    const anonymous = script.dataset.externalId ? { external_id: script.dataset.externalId } : {};
    if (launch) {
      try {
        viewer = await apiClient(apiBase, null).post(path, { launch });
        viewer.launch = launch;
      } catch (err) {
        // An expired or foreign launch token: browse on as an anonymous viewer.
        if (!(err instanceof ApiError && err.status === 403)) throw err;
        viewer = await apiClient(apiBase, null).post(path, anonymous);
      }
    } else {
      viewer = await apiClient(apiBase, null).post(path, anonymous);
    }
    store.set(keyPrefix + "viewer", viewer);
    return viewer;
  }

  // Calls as the viewer; an expired or foreign token is replaced once, transparently.
  async function asViewer(method, path, opts) {
    await ensureViewer(false);
    try {
      return await http.request(method, path, opts);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        await ensureViewer(true);
        return http.request(method, path, opts);
      }
      throw err;
    }
  }

  const roomPath = `/api/v1/rooms/${encodeURIComponent(room)}`;

  // --- DOM skeleton (shadow root; the live region stays put so announcements work) --
  const hostEl = document.createElement("div");
  hostEl.className = "live-companion-widget";
  const target = script.dataset.target && document.querySelector(script.dataset.target);
  if (target) target.appendChild(hostEl);
  else script.parentNode.insertBefore(hostEl, script.nextSibling);
  const root = hostEl.attachShadow ? hostEl.attachShadow({ mode: "open" }) : hostEl;
  root.appendChild(h("link", { rel: "stylesheet", href: `${apiBase}/static/widget.css` }));
  const frame = h("div", { class: "lc", part: "widget" });
  root.appendChild(frame);
  const header = h("div", { class: "lc-header" });
  const pinnedBox = h("div", { class: "lc-pinned", "aria-live": "polite" });
  const launcher = h("div", { class: "lc-launcher" });
  const panel = h("section", { class: "lc-panel", id: "lc-panel", "aria-labelledby": "lc-step-title" });
  const couponBox = h("div", { class: "lc-coupons", "aria-live": "polite" });
  const askBox = h("div", { class: "lc-ask" });
  const live = h("div", { class: "lc-sr", role: "status", "aria-live": "polite", "aria-atomic": "true" });
  frame.append(header, pinnedBox, launcher, panel, couponBox, askBox, live);

  function announce(text) {
    // Clearing first makes screen readers repeat an identical message.
    live.textContent = "";
    setTimeout(() => (live.textContent = text), 30);
  }

  let focusNext = null; // data-k of the element to focus after the next render
  function render() {
    hostEl.setAttribute("lang", S.lang === "en" ? "en" : "zh-CN");
    renderHeader();
    renderPinned();
    renderLauncher();
    renderPanel();
    renderCoupons();
    renderAsk();
    if (focusNext) {
      const el = root.querySelector(`[data-k="${focusNext}"]`);
      focusNext = null;
      if (el) el.focus();
    }
  }

  function rerenderKeepingFocus() {
    const active = root.activeElement;
    if (active && active.dataset && active.dataset.k) focusNext = active.dataset.k;
    render();
  }

  // Live events (stock counters arrive up to 4 times a second during a drop) redraw only
  // what they change: never the booking form the viewer may be typing in.
  function renderLive() {
    const active = root.activeElement;
    const key = active && active.dataset && active.dataset.k;
    const inLiveParts = active && [header, pinnedBox, launcher, couponBox].some((part) => part.contains(active));
    renderHeader();
    renderPinned();
    renderLauncher();
    renderCoupons();
    if (inLiveParts && key) {
      const el = root.querySelector(`[data-k="${key}"]`);
      if (el) el.focus();
    }
  }

  function renderHeader() {
    replaceChildren(
      header,
      h("span", { class: "lc-brand", text: S.roomTitle || t("title") }),
      S.bookingCount !== null &&
        h("span", { class: "lc-count", text: t("bookedCount", { n: S.bookingCount }) }),
      h("button", {
        type: "button",
        class: "lc-lang",
        "data-k": "lang",
        "aria-label": t("switchLang"),
        text: t("langButton"),
        onclick: () => {
          S.lang = S.lang === "zh" ? "en" : "zh";
          store.set("lc:lang", S.lang);
          focusNext = "lang";
          render();
        },
      })
    );
  }

  function renderPinned() {
    const parts = [];
    if (S.pinned) {
      parts.push(
        h("div", { class: "lc-pinned-q" }, h("strong", { text: t("pinned") + "：" }), h("span", { text: S.pinned.text }))
      );
    }
    if (S.announcement) {
      parts.push(
        h("div", { class: "lc-announce" }, h("strong", { text: t("announcement") + "：" }), h("span", { text: S.announcement }))
      );
    }
    replaceChildren(pinnedBox, parts);
  }

  function renderLauncher() {
    // a scheduled broadcast with a time takes pre-bookings (its preview is out)
    const preview = S.roomStatus === "scheduled" && !!S.scheduledAt;
    const closedRoom = S.roomStatus !== "live" && !preview;
    const label = S.open ? t("close") : S.booking ? t("myBooking") : t("book");
    replaceChildren(
      launcher,
      h("button", {
        type: "button",
        class: "lc-book" + (S.open ? " lc-secondary" : ""),
        "data-k": "launcher",
        "aria-expanded": String(S.open),
        "aria-controls": "lc-panel",
        disabled: closedRoom && !S.booking,
        text: label,
        onclick: onLauncher,
      }),
      closedRoom && !S.booking && h("p", { class: "lc-note", text: t(S.roomStatus === "ended" ? "roomEnded" : "roomNotLive") }),
      preview && !S.booking && h("p", { class: "lc-note", text: t("preview") })
    );
  }

  function stepTitle(text) {
    return h("h3", { id: "lc-step-title", class: "lc-step-title", tabindex: "-1", "data-k": "step-title", text });
  }

  function renderPanel() {
    panel.hidden = !S.open;
    if (!S.open) {
      replaceChildren(panel);
      return;
    }
    const body = [];
    if (S.step === "locating") {
      body.push(stepTitle(t("title")), h("p", { class: "lc-busy", text: t("locating") }));
    } else if (S.step === "picker") {
      body.push(stepTitle(t("title")), renderPicker());
    } else if (S.step === "stores") {
      body.push(stepTitle(t("nearestStores")), renderStores());
    } else if (S.step === "slots") {
      body.push(stepTitle(t("pickSlot")), renderStoreSummary(), renderDays(), renderSlots());
    } else if (S.step === "details") {
      body.push(stepTitle(t("details")), renderStoreSummary(), renderDetails());
    } else if (S.step === "done") {
      body.push(renderConfirmation());
    }
    if (S.error) {
      body.push(h("p", { class: "lc-error", role: "alert", text: S.error }));
    }
    replaceChildren(panel, body);
  }

  function renderPicker() {
    const select = h(
      "select",
      {
        id: "lc-city",
        "data-k": "city",
        onchange: (e) => (S.cityIndex = Number(e.target.value)),
      },
      cities.map((c, i) =>
        h("option", { value: String(i), selected: i === S.cityIndex, text: S.lang === "en" ? c.name_en || c.name : c.name })
      )
    );
    return h(
      "form",
      {
        class: "lc-picker",
        onsubmit: (e) => {
          e.preventDefault();
          const city = cities[S.cityIndex];
          loadStores(city.lat, city.lng, city.radius_km || 80);
        },
      },
      h("p", { class: "lc-note", text: S.locReason }),
      h("label", { for: "lc-city", text: t("city") }),
      select,
      h("button", { type: "submit", class: "lc-primary", "data-k": "find", text: t("findStores") }),
      navigator.geolocation &&
        h("button", { type: "button", class: "lc-link", "data-k": "geo", text: t("useLocation"), onclick: locate })
    );
  }

  function renderStores() {
    if (S.storesLoading) return h("p", { class: "lc-busy", text: t("loading") });
    if (!S.stores.length) {
      return h(
        "div",
        null,
        h("p", { class: "lc-note", text: t("noStores") }),
        h("button", { type: "button", class: "lc-link", "data-k": "to-picker", text: t("changeStore"), onclick: () => goPicker("") })
      );
    }
    return h(
      "div",
      null,
      h(
        "ul",
        { class: "lc-stores" },
        S.stores.map((s, i) =>
          h(
            "li",
            null,
            h(
              "button",
              {
                type: "button",
                class: "lc-store",
                "data-k": `store-${i}`,
                "data-store-id": s.id,
                onclick: () => pickStore(s),
              },
              h("span", { class: "lc-store-name", text: s.name }),
              h("span", { class: "lc-store-dist", text: formatDistance(s.distance_m, S.lang) }),
              h("span", { class: "lc-store-addr", text: s.address || "" }),
              typeof s.open_now === "boolean" &&
                h("span", { class: "lc-badge" + (s.open_now ? " lc-open" : ""), text: s.open_now ? t("openNow") : t("closedNow") })
            )
          )
        )
      ),
      h("button", { type: "button", class: "lc-link", "data-k": "to-picker", text: t("changeStore"), onclick: () => goPicker("") })
    );
  }

  function renderStoreSummary() {
    const s = S.store;
    return h(
      "div",
      { class: "lc-summary" },
      h("span", { class: "lc-store-name", text: s.name }),
      h("span", { class: "lc-store-dist", text: formatDistance(s.distance_m, S.lang) }),
      h("button", {
        type: "button",
        class: "lc-link",
        "data-k": "back-stores",
        text: t("changeStore"),
        onclick: () => {
          S.step = "stores";
          S.error = "";
          focusNext = "step-title";
          render();
        },
      })
    );
  }

  function renderDays() {
    const names = [t("today"), t("tomorrow"), t("dayAfter")];
    return h(
      "div",
      { class: "lc-days", role: "group", "aria-label": t("pickSlot") },
      names.map((name, i) =>
        h("button", {
          type: "button",
          class: "lc-day",
          "data-k": `day-${i}`,
          "data-day": String(i),
          "aria-pressed": String(S.day === i),
          text: `${name} ${dateIn(S.storeTz, i).slice(5)}`,
          onclick: () => {
            S.day = i;
            focusNext = `day-${i}`;
            loadSlots();
          },
        })
      )
    );
  }

  function renderSlots() {
    if (S.slotsLoading) return h("p", { class: "lc-busy", text: t("loading") });
    if (!S.slots.length) return h("p", { class: "lc-note", text: t("noSlots") });
    return h(
      "ul",
      { class: "lc-slots" },
      S.slots.map((slot, i) => {
        const full = slot.remaining <= 0;
        const time = localTime(slot.start);
        return h(
          "li",
          null,
          h(
            "button",
            {
              type: "button",
              class: "lc-slot" + (full ? " lc-full" : ""),
              "data-k": `slot-${i}`,
              "data-slot": slot.start,
              disabled: full,
              "aria-label": full ? t("slotFullLabel", { time }) : t("slotLabel", { time, n: slot.remaining }),
              onclick: () => pickSlot(slot),
            },
            h("span", { class: "lc-slot-time", text: time }),
            h("span", { class: "lc-slot-left", text: full ? t("full") : t("left", { n: slot.remaining }) })
          )
        );
      })
    );
  }

  // What can be booked at this store: featured products anywhere, featured services
  // only where the store offers them (the server checks the same rule).
  function bookableItems() {
    const offered = (S.store && S.store.services) || null;
    const items = S.featured.filter((f) => f.kind === "product" || !offered || offered.includes(f.id));
    if (items.length) return items;
    return (offered || []).map((id) => ({ id, name: id }));
  }

  function renderDetails() {
    const services = bookableItems();
    if (!services.some((f) => f.id === S.service)) S.service = services.length ? services[0].id : "";
    return h(
      "form",
      { class: "lc-details", novalidate: true, onsubmit: onConfirm },
      h("p", { class: "lc-when", text: `${localDate(S.slot.start)} ${localTime(S.slot.start)}–${localTime(S.slot.end)}` }),
      h("label", { for: "lc-service", text: t("service") }),
      h(
        "select",
        { id: "lc-service", "data-k": "service", onchange: (e) => (S.service = e.target.value) },
        services.map((f) =>
          h("option", {
            value: f.id,
            selected: f.id === S.service,
            text: f.price ? `${f.name}  ¥${f.price}` : f.name,
          })
        )
      ),
      h("label", { for: "lc-phone", text: t("phone") }),
      h("input", {
        id: "lc-phone",
        "data-k": "phone",
        type: "tel",
        inputmode: "tel",
        autocomplete: "tel",
        maxlength: "20",
        value: S.phone,
        "aria-describedby": "lc-phone-hint",
        "aria-invalid": S.phoneError ? "true" : null,
        oninput: (e) => (S.phone = e.target.value),
      }),
      h("p", { id: "lc-phone-hint", class: S.phoneError ? "lc-error" : "lc-hint", text: S.phoneError || t("phoneHint") }),
      h(
        "div",
        { class: "lc-actions" },
        h("button", {
          type: "button",
          class: "lc-secondary",
          "data-k": "back-slots",
          text: t("back"),
          onclick: () => {
            S.step = "slots";
            focusNext = "step-title";
            render();
          },
        }),
        h("button", {
          type: "submit",
          class: "lc-primary",
          "data-k": "confirm",
          disabled: S.submitting,
          "aria-busy": S.submitting ? "true" : null,
          text: S.submitting ? t("submitting") : t("confirm"),
        })
      )
    );
  }

  function renderConfirmation() {
    const b = S.booking;
    const coupon = S.coupons[S.coupons.length - 1];
    const service = (S.featured.find((f) => f.id === b.service) || {}).name || b.service;
    return h(
      "div",
      { class: "lc-card lc-confirmation", "data-booking-id": b.id },
      h("h3", { id: "lc-step-title", class: "lc-step-title", tabindex: "-1", "data-k": "step-title", text: t("booked") }),
      h("p", {
        class: "lc-when",
        text: t("bookedAt", { store: b.store_name || b.store_id, date: localDate(b.slot), time: localTime(b.slot) }),
      }),
      h("p", { text: service }),
      h("p", { class: "lc-booking-id" }, h("span", { text: t("bookingId") + "：" }), h("code", { text: b.id })),
      h("p", { class: "lc-hint", text: t("showAtStore") }),
      coupon && renderCouponTicket(coupon),
      h("button", { type: "button", class: "lc-secondary", "data-k": "cancel", text: t("cancel"), onclick: onCancel })
    );
  }

  function renderCouponTicket(coupon) {
    return h(
      "div",
      { class: "lc-ticket", "data-code": coupon.code },
      h("strong", { text: t("yourCoupon") + (coupon.title ? ` · ${coupon.title}` : "") }),
      h("p", null, h("span", { text: t("couponCode") + "：" }), h("code", { class: "lc-code", text: coupon.code })),
      coupon.qr_svg_url &&
        h("img", {
          class: "lc-qr",
          src: absolute(coupon.qr_svg_url),
          alt: `${t("couponCode")} ${coupon.code}`,
          width: "160",
          height: "160",
        })
    );
  }

  function renderCoupons() {
    const cards = [];
    for (const drop of S.drops.values()) {
      const mine = S.coupons.find((c) => c.campaign_id === drop.id);
      if (!mine && drop.status === "draft") continue;
      const over = drop.status === "closed" || drop.status === "expired";
      const soldOut = !mine && (over || drop.soldOut || (typeof drop.remaining === "number" && drop.remaining <= 0));
      cards.push(
        h(
          "div",
          { class: "lc-card lc-drop", "data-campaign-id": drop.id },
          h("strong", { class: "lc-drop-title", text: `${t("couponDrop")} ${drop.title || ""}` }),
          typeof drop.value === "number" && h("span", { class: "lc-drop-value", text: couponValue(drop) }),
          typeof drop.remaining === "number" && h("span", { class: "lc-drop-left", text: t("remaining", { n: drop.remaining }) }),
          mine && S.open && S.step === "done"
            ? h("p", { class: "lc-note" }, h("span", { text: `${t("claimed")} · ` }), h("code", { class: "lc-code", text: mine.code }))
            : mine
            ? renderCouponTicket(mine)
            : h("button", {
                type: "button",
                class: "lc-primary lc-claim",
                "data-k": `claim-${drop.id}`,
                disabled: soldOut || drop.claiming,
                text: soldOut ? t("soldOut") : drop.claiming ? t("claiming") : t("claim"),
                onclick: () => claim(drop),
              }),
          drop.message && h("p", { class: "lc-note", text: drop.message })
        )
      );
    }
    replaceChildren(couponBox, cards);
  }

  function renderAsk() {
    replaceChildren(
      askBox,
      h(
        "form",
        { class: "lc-ask-form", onsubmit: onAsk },
        h("label", { for: "lc-question", class: "lc-ask-title", text: t("ask") }),
        h("textarea", {
          id: "lc-question",
          "data-k": "question",
          rows: "2",
          maxlength: String(QUESTION_MAX),
          placeholder: t("askPlaceholder"),
          "aria-describedby": "lc-ask-msg",
          oninput: (e) => (S.question = e.target.value),
        }),
        h("button", { type: "submit", class: "lc-secondary", "data-k": "ask", disabled: S.questionSending, text: t("send") }),
        h("p", { id: "lc-ask-msg", class: "lc-hint", text: S.questionMsg })
      )
    );
    const area = askBox.querySelector("textarea");
    area.value = S.question;
  }

  // --- actions ---------------------------------------------------------------------
  function onLauncher() {
    if (S.open) {
      S.open = false;
      focusNext = "launcher";
      render();
      return;
    }
    S.open = true;
    S.error = "";
    if (S.booking) {
      S.step = "done";
      focusNext = "step-title";
      render();
      return;
    }
    // A tap is counted for the funnel; it must never block booking.
    asViewer("POST", `${roomPath}/taps`, { body: {} }).catch(() => {});
    locate();
  }

  function locate() {
    S.error = "";
    if (!navigator.geolocation) {
      goPicker(t("locFailed"));
      return;
    }
    S.step = "locating";
    focusNext = "step-title";
    render();
    announce(t("locating"));
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        S.position = { lat: pos.coords.latitude, lng: pos.coords.longitude };
        loadStores(S.position.lat, S.position.lng, null);
      },
      (err) => goPicker(err && err.code === 1 ? t("locDenied") : t("locFailed")),
      { enableHighAccuracy: false, timeout: 10000, maximumAge: 600000 }
    );
  }

  function goPicker(reason) {
    S.step = "picker";
    S.locReason = reason;
    focusNext = "city";
    render();
    if (reason) announce(reason);
  }

  async function loadStores(lat, lng, radiusKm) {
    S.step = "stores";
    S.storesLoading = true;
    S.error = "";
    focusNext = "step-title";
    render();
    try {
      // The room's context: only its brand's stores.
      const query = { lat, lng, limit: NEAREST_LIMIT, room };
      if (radiusKm) query.radius_km = radiusKm;
      const body = await http.get("/api/v1/stores/nearest", { query });
      S.stores = (body && body.stores) || [];
    } catch (err) {
      S.stores = [];
      S.error = describe(err);
    }
    S.storesLoading = false;
    focusNext = S.stores.length ? "store-0" : "step-title";
    render();
    announce(S.stores.length ? `${t("nearestStores")}: ${S.stores.length}` : t("noStores"));
  }

  async function pickStore(s) {
    S.store = s;
    S.storeTz = s.timezone || null;
    S.day = 0;
    S.step = "slots";
    focusNext = "step-title";
    if (!S.storeTz || !s.services) {
      // The nearest list may not carry the timezone (the day must be the store's day)
      // or the services (what can be booked here).
      try {
        const full = await http.get(`/api/v1/stores/${encodeURIComponent(s.id)}`);
        S.storeTz = full.timezone || null;
        S.store = { ...s, services: full.services, timezone: full.timezone };
      } catch (_) {
        /* the browser's date and the whole featured list are fine fallbacks */
      }
    }
    await loadSlots();
  }

  async function loadSlots() {
    S.slotsLoading = true;
    S.error = "";
    render();
    try {
      const body = await http.get(`/api/v1/stores/${encodeURIComponent(S.store.id)}/slots`, {
        query: { date: dateIn(S.storeTz, S.day), room },
      });
      S.slots = (body && body.slots) || [];
      if (body && body.timezone) S.storeTz = body.timezone;
    } catch (err) {
      S.slots = [];
      S.error = describe(err);
    }
    S.slotsLoading = false;
    render();
  }

  function pickSlot(slot) {
    if (S.slot !== slot) S.idemKey = null;
    S.slot = slot;
    S.step = "details";
    S.error = "";
    focusNext = "service";
    render();
  }

  async function onConfirm(event) {
    event.preventDefault();
    if (S.submitting) return;
    const phone = S.phone.trim();
    if (phone && !PHONE_RE.test(phone)) {
      S.phoneError = t("phoneBad");
      focusNext = "phone";
      render();
      return;
    }
    S.phoneError = "";
    S.submitting = true;
    S.error = "";
    // One key per attempt: a retried tap (double tap, network retry) returns the first result.
    S.idemKey = S.idemKey || randomId();
    rerenderKeepingFocus();
    const body = { store_id: S.store.id, slot: S.slot.start, service: S.service };
    if (phone) body.contact = phone;
    try {
      const booking = await asViewer("POST", `${roomPath}/bookings`, {
        body,
        headers: { "Idempotency-Key": S.idemKey },
      });
      S.booking = { ...booking, store_name: S.store.name };
      store.set(keyPrefix + "booking", S.booking);
      S.idemKey = null;
      S.step = "done";
      focusNext = "step-title";
      announce(t("booked"));
    } catch (err) {
      if (err.status === 409 && /full/i.test(JSON.stringify(err.problem))) {
        S.error = t("slotFull");
        S.step = "slots";
        S.idemKey = null;
        await loadSlots();
      } else {
        S.error = describe(err);
      }
      announce(S.error);
    }
    S.submitting = false;
    render();
  }

  async function onCancel() {
    const b = S.booking;
    try {
      await asViewer("DELETE", `/api/v1/bookings/${encodeURIComponent(b.id)}`);
    } catch (err) {
      if (err.status !== 404 && err.status !== 410 && err.status !== 409) {
        S.error = describe(err);
        render();
        return;
      }
    }
    S.booking = null;
    store.remove(keyPrefix + "booking");
    S.step = "idle";
    S.open = false;
    S.error = "";
    focusNext = "launcher";
    render();
    announce(t("cancelled"));
  }

  async function claim(drop) {
    drop.claiming = true;
    drop.message = "";
    // Same key on a retried tap: the server hands back the same code, never a second one.
    drop.idemKey = drop.idemKey || randomId();
    renderLive();
    try {
      const result = await asViewer("POST", `${roomPath}/campaigns/${encodeURIComponent(drop.id)}/claim`, {
        body: {},
        headers: { "Idempotency-Key": drop.idemKey },
      });
      const coupon = { campaign_id: drop.id, title: drop.title, ...result };
      S.coupons = S.coupons.filter((c) => c.campaign_id !== drop.id).concat([coupon]);
      store.set(keyPrefix + "coupons", S.coupons);
      announce(t("claimed"));
    } catch (err) {
      if (err.status === 410) drop.soldOut = true;
      drop.message = err.status === 410 ? t("soldOut") : err.status === 409 ? t("limitReached") : describe(err);
      announce(drop.message);
    }
    drop.claiming = false;
    if (S.open && S.step === "done") rerenderKeepingFocus(); // the card shows the coupon
    else renderLive();
  }

  async function onAsk(event) {
    event.preventDefault();
    const text = S.question.trim();
    if (!text) return;
    // Update the ask form in place: the rest of the widget (maybe a half-typed phone
    // number) is left alone.
    const area = askBox.querySelector("textarea");
    const button = askBox.querySelector("button");
    const note = askBox.querySelector("#lc-ask-msg");
    if (text.length > QUESTION_MAX) {
      S.questionMsg = note.textContent = t("tooLong");
      return;
    }
    S.questionSending = button.disabled = true;
    try {
      await asViewer("POST", `${roomPath}/questions`, { body: { text } });
      S.question = area.value = "";
      S.questionMsg = t("sent");
    } catch (err) {
      S.questionMsg = describe(err);
    }
    S.questionSending = button.disabled = false;
    note.textContent = S.questionMsg;
    announce(S.questionMsg);
  }

  function describe(err) {
    if (!(err instanceof ApiError)) return t("error", { detail: String(err && err.message) });
    if (err.status === 0) return t("network");
    if (err.status === 410) return t("roomEnded");
    return t("error", { detail: err.message });
  }

  function couponValue(drop) {
    if (drop.kind === "percent_off") return t("percentOff", { v: drop.value });
    if (drop.kind === "gift") return t("gift");
    return t("couponValue", { v: drop.value });
  }

  function absolute(url) {
    return /^https?:/i.test(url) ? url : apiBase + (url.startsWith("/") ? "" : "/") + url;
  }

  // --- live channel ----------------------------------------------------------------
  function upsertDrop(data) {
    const c = (data && (data.campaign || data)) || {};
    const id = c.campaign_id || c.id;
    if (!id) return;
    const known = S.drops.get(id) || { id };
    S.drops.set(id, {
      ...known,
      title: c.title ?? known.title,
      value: c.value ?? known.value,
      kind: c.kind ?? known.kind,
      remaining: c.remaining ?? known.remaining,
      status: c.status ?? known.status,
    });
  }

  function applyState(state) {
    if (!state) return;
    if (state.title) S.roomTitle = state.title;
    if (state.status) S.roomStatus = state.status;
    if ("scheduled_at" in state) S.scheduledAt = state.scheduled_at;
    if (Array.isArray(state.featured)) S.featured = state.featured;
    if (Array.isArray(state.campaigns)) state.campaigns.forEach(upsertDrop);
    if ("pinned" in state) S.pinned = state.pinned || null;
    if (typeof state.bookings === "number") S.bookingCount = state.bookings;
    if (typeof state.booking_count === "number") S.bookingCount = state.booking_count;
  }

  function track(data) {
    if (data && typeof data.offset === "string") S.offset = data.offset;
  }

  function startLive() {
    const socket = connect(apiBase, "/live", () => ({ token: viewer.token, offset: S.offset || undefined }));
    const on = (event, fn) =>
      socket.on(event, (data) => {
        track(data);
        const panelBefore = `${S.open}:${S.step}:${S.featured.length}`;
        fn(data || {});
        // The panel is redrawn only when the event changed what it shows.
        if (`${S.open}:${S.step}:${S.featured.length}` !== panelBefore) rerenderKeepingFocus();
        else renderLive();
        // The host page may follow the room too (the demo page's chat column does).
        hostEl.dispatchEvent(new CustomEvent("livecompanion", { bubbles: true, detail: { event, data } }));
      });
    on("room.state", applyState);
    on("coupon.dropped", upsertDrop);
    on("coupon.stock", upsertDrop);
    on("booking.count", (d) => {
      const n = d.count ?? d.bookings ?? d.total;
      if (typeof n === "number") S.bookingCount = n;
    });
    on("question.pinned", (d) => (S.pinned = d.question || d));
    on("question.answered", (d) => {
      const id = (d.question || d).id;
      if (S.pinned && S.pinned.id === id) S.pinned = null;
    });
    on("question.unpinned", (d) => {
      if (S.pinned && S.pinned.id === d.id) S.pinned = null;
    });
    on("room.announcement", (d) => (S.announcement = d.text || ""));
    on("room.started", () => (S.roomStatus = "live"));
    on("room.viewers", () => {});
    on("room.ended", () => {
      S.roomStatus = "ended";
      if (S.open && S.step !== "done") S.open = false;
    });
    return socket;
  }

  async function start() {
    render();
    try {
      await ensureViewer(false);
      const room0 = await asViewer("GET", roomPath);
      applyState(room0);
    } catch (err) {
      if (err.status === 410) S.roomStatus = "ended";
      else if (err.status === 404) S.roomStatus = "ended";
    }
    render();
    if (viewer) startLive();
  }

  start();
  return { room, state: S };
}

function parseCities(raw) {
  if (!raw) return DEFAULT_CITIES;
  try {
    const list = JSON.parse(raw);
    if (Array.isArray(list) && list.length && list.every((c) => c && c.name && isFinite(c.lat) && isFinite(c.lng))) {
      return list;
    }
  } catch (_) {
    /* fall back to the built-in list */
  }
  return DEFAULT_CITIES;
}

// Mount every widget script tag once (the script may be included more than once).
(function boot() {
  const mounted = (window.LiveCompanionWidgets = window.LiveCompanionWidgets || []);
  const scripts = document.currentScript
    ? [document.currentScript]
    : Array.from(document.querySelectorAll("script[data-room]"));
  for (const script of scripts) {
    if (script.dataset.lcMounted) continue;
    script.dataset.lcMounted = "1";
    const widget = mount(script);
    if (widget) mounted.push(widget);
  }
})();
