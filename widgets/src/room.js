// The demo live-room page around the widget: a stand-in player and a chat column.
// The chat is local (the contract has no chat API); room events the widget receives
// (coupon drops, pinned questions, host announcements) appear in it as system lines.
import "./room.css";
import { h } from "./lib/dom.js";

const log = document.getElementById("chat-log");
const form = document.getElementById("chat-form");
const input = document.getElementById("chat-input");
const viewers = document.getElementById("viewers");
const caption = document.getElementById("caption");

const SAMPLE = [
  ["小麦", "今天的欧包看起来好香！"],
  ["Lily", "静安寺店周末能约吗？"],
  ["阿杰", "月饼礼盒什么时候发券？"],
];

function line(who, text, system) {
  if (!log) return;
  log.appendChild(
    h("li", { class: system ? "sys" : "" }, who && h("strong", { text: who + "：" }), h("span", { text }))
  );
  while (log.childElementCount > 200) log.removeChild(log.firstElementChild);
  log.scrollTop = log.scrollHeight;
}

SAMPLE.forEach(([who, text]) => line(who, text, false));

if (form) {
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    line("我", text, false);
    input.value = "";
  });
}

document.addEventListener("livecompanion", (e) => {
  const { event, data } = e.detail || {};
  if (!data) return;
  if (event === "room.state" && data.title && caption) caption.textContent = data.title;
  if ((event === "room.state" || event === "room.viewers") && typeof data.viewers === "number" && viewers) {
    viewers.textContent = `观看 ${data.viewers}`;
  }
  if (event === "coupon.dropped") line("", `【发券】${(data.campaign || data).title || ""}`, true);
  if (event === "question.pinned") line("", `【置顶】${(data.question || data).text || ""}`, true);
  if (event === "room.announcement") line("", `【公告】${data.text || ""}`, true);
  if (event === "room.ended") line("", "直播已结束 The live room has ended", true);
});
