// Tiny DOM helpers. Everything that comes from the server is put into the page as text
// (text nodes / textContent), never parsed as HTML: question text, store names and
// customer names are untrusted.

/**
 * Create an element. `attrs` keys: `class`, `text` (textContent), `on<event>` handlers,
 * `dataset` (object), boolean attributes (true/false), anything else via setAttribute.
 * Children may be nodes, strings (become text nodes), arrays, or null/false (skipped).
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = String(value);
      else if (key === "dataset") Object.assign(el.dataset, value);
      else if (key.startsWith("on") && typeof value === "function") {
        el.addEventListener(key.slice(2).toLowerCase(), value);
      } else if (key === "value") el.value = value;
      else if (value === true) el.setAttribute(key, "");
      else el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replace all children of `el` (no HTML parsing). */
export function replaceChildren(el, ...children) {
  while (el.firstChild) el.removeChild(el.firstChild);
  append(el, children);
}

/** An SVG element (charts). */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (key === "text") el.textContent = String(value);
    else el.setAttribute(key, String(value));
  }
  for (const child of children) if (child) el.appendChild(child);
  return el;
}

/** Parse `#token=...&x=y` of the page URL. */
export function fragmentParams() {
  const out = {};
  const raw = (location.hash || "").replace(/^#/, "");
  for (const part of raw.split("&")) {
    if (!part) continue;
    const [k, v = ""] = part.split("=");
    try {
      out[decodeURIComponent(k)] = decodeURIComponent(v);
    } catch (_) {
      /* a malformed fragment is ignored */
    }
  }
  return out;
}

/** The last path segment of the page URL, e.g. the room of /host/r_demo. */
export function pathId() {
  const parts = location.pathname.split("/").filter(Boolean);
  try {
    return decodeURIComponent(parts[parts.length - 1] || "");
  } catch (_) {
    return "";
  }
}

/** localStorage that never throws (private mode, disabled storage, sandboxed iframes). */
export const store = {
  get(key, fallback = null) {
    try {
      const raw = localStorage.getItem(key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (_) {
      return fallback;
    }
  },
  set(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch (_) {
      /* storage full or disabled: the session still works */
    }
  },
  remove(key) {
    try {
      localStorage.removeItem(key);
    } catch (_) {
      /* ignore */
    }
  },
};

/** Random id for Idempotency-Key (crypto where available). */
export function randomId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  (window.crypto || {}).getRandomValues
    ? crypto.getRandomValues(bytes)
    : bytes.forEach((_, i) => (bytes[i] = Math.floor(Math.random() * 256)));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** "HH:MM" of an ISO time, in the time's own offset (the store's local time). */
export function localTime(iso) {
  const m = /T(\d{2}:\d{2})/.exec(iso || "");
  return m ? m[1] : String(iso || "");
}

/** "YYYY-MM-DD" of an ISO time as written (the store's local date). */
export function localDate(iso) {
  const m = /^(\d{4}-\d{2}-\d{2})/.exec(iso || "");
  return m ? m[1] : "";
}

/** Today's date (YYYY-MM-DD) in an IANA timezone, plus `addDays`. */
export function dateIn(timeZone, addDays = 0) {
  const when = new Date(Date.now() + addDays * 86400000);
  try {
    const parts = new Intl.DateTimeFormat("en-CA", {
      timeZone: timeZone || undefined,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
    }).formatToParts(when);
    const get = (type) => parts.find((p) => p.type === type).value;
    return `${get("year")}-${get("month")}-${get("day")}`;
  } catch (_) {
    return when.toISOString().slice(0, 10);
  }
}
