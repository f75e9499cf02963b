// Errors and the server's state in words: never a blank page.

import { el } from "./dom.js";
import { t } from "./i18n.js";

export function describe(error) {
  if (error.status === 0) return t("unreachable");
  if (error.status === 429 || error.code === "overloaded") {
    return t("busy", { s: error.retryAfter ?? 5 });
  }
  return `${t("error")}: ${error.message} (${error.code})`;
}

export function banner(text, kind = "warning", details = []) {
  const box = document.getElementById("banner");
  box.className = kind;
  box.replaceChildren(text);
  if (details.length) box.append(el("ul", {}, ...details.map((line) => el("li", {}, line))));
  box.hidden = false;
}

export function clearBanner() {
  const box = document.getElementById("banner");
  box.hidden = true;
  box.replaceChildren();
}

// A short line in the documents panel's status area (role=status, read out politely).
export function status(text) {
  const box = document.getElementById("doc-status");
  if (box) box.textContent = text;
}
