// The conversation: a question goes to POST /v1/query (streamed), the answer is written
// as it arrives, its [n] markers become buttons that open the cited passage with the
// sentence the answer leans on marked, and the sources are listed with their scores.
// Earlier turns go along as history, so follow-up questions work.

import { streamQuery } from "./api.js";
import { el } from "./dom.js";
import { t } from "./i18n.js";
import { describe } from "./notices.js";

const MARKER = /\[(\s*\d+\s*(?:[,，、]\s*\d+\s*)*)\]/g;
const HISTORY_TURNS = 10;

export class Chat {
  constructor({ kbSelection, onUnauthorized }) {
    this.kbSelection = kbSelection; // () => "default" | ["a", "b"] | "auto"
    this.onUnauthorized = onUnauthorized;
    this.history = [];
    this.turns = document.getElementById("turns");
    this.form = document.getElementById("ask");
    this.question = document.getElementById("question");
    this.stopButton = document.getElementById("stop");
    this.controller = null;
    this.settings = new Settings();
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.ask();
    });
    this.question.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.ask();
      }
    });
    this.stopButton.addEventListener("click", () => this.controller?.abort());
    document.getElementById("new-chat").addEventListener("click", () => this.clear());
  }

  clear() {
    this.controller?.abort();
    this.history = [];
    this.turns.replaceChildren();
    this.question.focus();
  }

  async ask() {
    const question = this.question.value.trim();
    if (!question || this.controller) return;
    const turn = new Turn(question);
    this.turns.append(turn.node);
    this.question.value = "";
    const body = {
      question,
      kb: this.kbSelection(),
      history: this.history.slice(-HISTORY_TURNS),
      ...this.settings.request(),
    };
    this.controller = new AbortController();
    this.setBusy(true);
    try {
      await streamQuery(body, (event, data) => turn.on(event, data), this.controller.signal);
      if (turn.finished) this.history.push([question, turn.finished]);
    } catch (error) {
      if (error.name === "AbortError") turn.notice(t("stopped"), "info");
      else {
        turn.notice(describe(error), "error");
        if (error.status === 401) this.onUnauthorized(error);
      }
    } finally {
      turn.settle();
      this.controller = null;
      this.setBusy(false);
      this.question.focus();
    }
  }

  setBusy(busy) {
    document.getElementById("send").disabled = busy;
    this.stopButton.hidden = !busy;
  }
}

class Turn {
  constructor(question) {
    this.text = "";
    this.pieces = 0;
    this.sources = [];
    this.finished = null;
    this.answer = el("div", { className: "answer-text" }, t("thinking"));
    this.notices = el("div", { className: "notices" });
    this.sourceList = el("ol", { className: "source-list" });
    this.sourceBox = el(
      "details",
      { className: "sources", open: true, hidden: true },
      el("summary", {}, t("sources")),
      this.sourceList,
    );
    this.body = el("div", { className: "a" }, this.answer, this.notices, this.sourceBox);
    this.body.dataset.state = "streaming";
    this.body.setAttribute("aria-busy", "true");
    this.node = el(
      "li",
      { className: "turn" },
      el("p", { className: "q" }, el("strong", {}, `${t("you")}: `), question),
      this.body,
    );
  }

  on(event, data) {
    if (event === "sources") this.showSources(data);
    else if (event === "token") {
      this.text += data.text;
      this.pieces += 1;
      this.body.dataset.pieces = String(this.pieces);
      this.render();
    } else if (event === "done") {
      this.text = data.answer;
      this.showSources(data.sources.length ? data.sources : this.sources);
      this.render();
      this.finished = data.answer;
      this.body.dataset.state = "done";
      if (data.degraded) this.body.dataset.degraded = "true";
      if (data.degraded) this.notice(t("degraded"), "warning", data.warnings);
    } else if (event === "error") {
      const { code, message } = data.error;
      this.notice(describe({ status: -1, code, message }), "error");
    }
  }

  render() {
    const nodes = [];
    let last = 0;
    for (const match of this.text.matchAll(MARKER)) {
      nodes.push(this.text.slice(last, match.index));
      const numbers = match[1].split(/[,，、]/).map((n) => Number(n.trim()));
      nodes.push("[");
      numbers.forEach((n, i) => {
        if (i) nodes.push(", ");
        nodes.push(this.citeButton(n));
      });
      nodes.push("]");
      last = match.index + match[0].length;
    }
    nodes.push(this.text.slice(last));
    this.answer.replaceChildren(...nodes);
  }

  citeButton(n) {
    const button = el("button", { type: "button", className: "cite", textContent: String(n) });
    button.setAttribute("aria-label", `${t("sources")} ${n}`);
    button.addEventListener("click", () => {
      const source = this.sources.find((s) => s.n === n);
      if (source) openPassage(source, button);
    });
    return button;
  }

  showSources(sources) {
    this.sources = sources;
    this.sourceBox.hidden = false;
    if (!sources.length) {
      this.sourceList.replaceChildren(el("li", {}, t("noSources")));
      return;
    }
    this.sourceList.replaceChildren(
      ...sources.map((s) => {
        const open = el("button", { type: "button", className: "source-link" }, `[${s.n}] ${s.source}`);
        open.addEventListener("click", () => openPassage(s, open));
        const where = [s.page ? t("page", { page: s.page }) : "", s.section, s.kb].filter(Boolean);
        return el(
          "li",
          {},
          open,
          el("span", { className: "where" }, where.join(" · ")),
          el("span", { className: "score" }, strength(s)),
        );
      }),
    );
  }

  notice(text, kind, details = []) {
    const box = el("p", { className: `notice ${kind}` }, text);
    if (details.length) box.append(el("span", { className: "details" }, ` (${details.join("; ")})`));
    this.notices.append(box);
  }

  settle() {
    if (!this.text && this.answer.textContent === t("thinking")) this.answer.replaceChildren();
    if (this.body.dataset.state === "streaming") this.body.dataset.state = "stopped";
    this.body.removeAttribute("aria-busy");
  }
}

// The calibrated confidence where the server set one (one scale for every question and
// knowledge base), else the ranking score.
export function strength(source) {
  if (source.confidence !== null && source.confidence !== undefined) {
    return `${t("confidence")} ${source.confidence.toFixed(2)}`;
  }
  return `${t("score")} ${source.score.toFixed(3)}`;
}

export function openPassage(source, opener) {
  const dialog = document.getElementById("passage");
  document.getElementById("passage-title").textContent = `[${source.n}] ${source.source}`;
  const where = [
    source.kb,
    source.page ? t("page", { page: source.page }) : "",
    source.section,
    strength(source),
  ];
  document.getElementById("passage-where").textContent = where.filter(Boolean).join(" · ");
  const text = document.getElementById("passage-text");
  const chars = Array.from(source.text); // the server's offsets count code points
  const parts = [];
  let at = 0;
  for (const [a, b] of source.highlights || []) {
    parts.push(chars.slice(at, a).join(""), el("mark", {}, chars.slice(a, b).join("")));
    at = b;
  }
  parts.push(chars.slice(at).join(""));
  text.replaceChildren(...parts);
  dialog.addEventListener("close", () => opener?.focus(), { once: true });
  dialog.showModal();
  text.querySelector("mark")?.scrollIntoView({ block: "center" });
}

class Settings {
  constructor() {
    this.fields = {
      model: document.getElementById("set-model"),
      temperature: document.getElementById("set-temperature"),
      topK: document.getElementById("set-topk"),
      extractive: document.getElementById("set-extractive"),
    };
    const saved = JSON.parse(localStorage.getItem("rag-settings") || "{}");
    for (const [name, input] of Object.entries(this.fields)) {
      if (input.type === "checkbox") input.checked = Boolean(saved[name]);
      else input.value = saved[name] ?? "";
      input.addEventListener("change", () => this.save());
    }
  }

  save() {
    const values = {};
    for (const [name, input] of Object.entries(this.fields)) {
      values[name] = input.type === "checkbox" ? input.checked : input.value;
    }
    localStorage.setItem("rag-settings", JSON.stringify(values));
  }

  request() {
    const { model, temperature, topK, extractive } = this.fields;
    const body = {};
    if (topK.value) body.top_k = Number(topK.value);
    if (extractive.checked) body.generation = "none";
    else {
      const generation = {};
      if (model.value.trim()) generation.model = model.value.trim();
      if (temperature.value) generation.temperature = Number(temperature.value);
      if (Object.keys(generation).length) body.generation = generation;
    }
    return body;
  }
}
