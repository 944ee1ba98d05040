// A small JSON client for the public HTTP contract (problem+json errors become ApiError).

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

/**
 * `base` is the server origin ("" for same-origin); `token()` returns the bearer token.
 * `request(method, path, {body, headers, query})` resolves to the JSON body, or rejects
 * with ApiError (status 0 for network failures).
 */
export function apiClient(base, token) {
  async function request(method, path, opts = {}) {
    const headers = { Accept: "application/json", ...(opts.headers || {}) };
    const bearer = token && token();
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    let url = base + path;
    if (opts.query) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(opts.query)) {
        if (v !== undefined && v !== null && v !== "") qs.set(k, String(v));
      }
      const text = qs.toString();
      if (text) url += (url.includes("?") ? "&" : "?") + text;
    }
    const init = { method, headers, mode: "cors", credentials: "omit" };
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(opts.body);
    }
    let resp;
    try {
      resp = await fetch(url, init);
    } catch (err) {
      throw new ApiError(0, { title: "network", detail: String(err && err.message) });
    }
    if (opts.raw) {
      if (!resp.ok) throw new ApiError(resp.status, await safeJson(resp));
      return resp;
    }
    const body = await safeJson(resp);
    if (!resp.ok) throw new ApiError(resp.status, body);
    return body;
  }
  return {
    request,
    get: (path, opts) => request("GET", path, opts),
    post: (path, body, opts = {}) => request("POST", path, { ...opts, body }),
    del: (path, opts) => request("DELETE", path, opts),
  };
}

async function safeJson(resp) {
  if (resp.status === 204) return null;
  try {
    return await resp.json();
  } catch (_) {
    return null;
  }
}
