// What the host console, store dashboard and stats page share: the token from the URL
// fragment (kept for the tab in sessionStorage, then removed from the address bar), a
// sign-in form when there is none, and the connection indicator.
import { h, replaceChildren, fragmentParams } from "./dom.js";

/** The bearer token for this page, or null. `#token=` wins and is then hidden. */
export function pageToken(scopeKey) {
  const key = `lc:token:${scopeKey}`;
  const fromUrl = fragmentParams().token;
  if (fromUrl) {
    try {
      sessionStorage.setItem(key, fromUrl);
    } catch (_) {
      /* storage disabled: keep it in memory only */
    }
    // Keep tokens out of screenshots, bookmarks and shoulder-surfing.
    history.replaceState(null, "", location.pathname + location.search);
    return fromUrl;
  }
  try {
    return sessionStorage.getItem(key);
  } catch (_) {
    return null;
  }
}

export function forgetToken(scopeKey) {
  try {
    sessionStorage.removeItem(`lc:token:${scopeKey}`);
  } catch (_) {
    /* ignore */
  }
}

/** Render a sign-in form into `app`; calls `onToken(token)` on submit. */
export function signIn(app, title, hint, onToken, error) {
  const input = h("input", { id: "token", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  replaceChildren(
    app,
    h(
      "form",
      {
        class: "signin",
        onsubmit: (e) => {
          e.preventDefault();
          const token = input.value.trim();
          if (token) onToken(token);
        },
      },
      h("h1", { text: title }),
      h("p", { class: "muted", text: hint }),
      error && h("p", { class: "error", role: "alert", text: error }),
      h("label", { for: "token", text: "令牌 Token" }),
      input,
      h("button", { type: "submit", class: "primary", text: "进入 Enter" })
    )
  );
  input.focus();
}

const STATE_TEXT = {
  connecting: "连接中 Connecting…",
  connected: "已连接 Live",
  reconnecting: "重连中 Reconnecting…",
  refused: "令牌无效 Token refused",
};

/** A small live indicator; `set(state, detail)` updates it. */
export function connectionIndicator() {
  const dot = h("span", { class: "dot", "aria-hidden": "true" });
  const label = h("span", { class: "conn-label" });
  const el = h("span", { class: "conn", role: "status", "aria-live": "polite", "data-state": "connecting" }, dot, label);
  function set(state, detail) {
    el.dataset.state = state;
    label.textContent = STATE_TEXT[state] || state;
    el.title = detail ? String(detail) : "";
  }
  set("connecting");
  return { el, set };
}

export function formatTime(value) {
  const date = typeof value === "number" ? new Date(value) : new Date(String(value || ""));
  if (isNaN(date.getTime())) return "";
  return date.toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}
