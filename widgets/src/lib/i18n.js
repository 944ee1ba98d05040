// Two languages, zh-CN by default. `makeT(messages, getLang)` returns t(key, vars).

export function makeT(messages, getLang) {
  return function t(key, vars) {
    const lang = getLang();
    let text = (messages[lang] && messages[lang][key]) || messages.zh[key] || key;
    if (vars) {
      for (const [k, v] of Object.entries(vars)) text = text.split(`{${k}}`).join(String(v));
    }
    return text;
  };
}

/** The starting language: explicit choice, saved choice, then the browser's. */
export function initialLang(explicit, saved) {
  const pick = explicit || saved;
  if (pick === "en" || pick === "zh") return pick;
  return "zh";
}

export function formatDistance(metres, lang) {
  if (typeof metres !== "number" || !isFinite(metres)) return "";
  if (metres < 1000) return lang === "en" ? `${Math.round(metres)} m` : `${Math.round(metres)} 米`;
  const km = metres < 10000 ? (metres / 1000).toFixed(1) : Math.round(metres / 1000);
  return lang === "en" ? `${km} km` : `${km} 公里`;
}
