// The page's start: language, key, knowledge bases, the server's state; then the chat
// and the documents panel.

import { getJson, keepKey, readiness, storedKey } from "./api.js";
import { Chat } from "./chat.js";
import { Documents } from "./docs.js";
import { el } from "./dom.js";
import { apply, chooseLanguage, language, setLanguage, t } from "./i18n.js";
import { banner, clearBanner, describe, status } from "./notices.js";

const ALL = "__all";
const AUTO = "auto";
const READY_EVERY_MS = 30000;

const picker = document.getElementById("kb");
let names = [];
let keyWaiting = null;

function option(value, text) {
  return el("option", { value, textContent: text });
}

function fillPicker() {
  const keep = picker.value || localStorage.getItem("rag-kb") || "default";
  picker.replaceChildren(
    ...names.map((n) => option(n, n)),
    option(ALL, t("allKbs")),
    option(AUTO, t("autoKb")),
  );
  picker.value = [...names, ALL, AUTO].includes(keep) ? keep : names[0] ?? AUTO;
}

function selection() {
  if (picker.value === ALL) return names.length ? names : "default";
  return picker.value || "default";
}

// The key dialog; resolves when a key is given (the page then retries what it was doing).
function askKey(refused) {
  const dialog = document.getElementById("key-dialog");
  document.getElementById("key-why").textContent = t(refused ? "keyRefused" : "keyWhy");
  document.getElementById("key-button").hidden = false;
  if (!keyWaiting) {
    keyWaiting = new Promise((resolve) => {
      dialog.addEventListener(
        "close",
        () => {
          const input = document.getElementById("key-input");
          if (input.value) keepKey(input.value);
          input.value = "";
          keyWaiting = null;
          resolve();
        },
        { once: true },
      );
    });
  }
  if (!dialog.open) dialog.showModal();
  return keyWaiting;
}

function onProblem(error) {
  if (error.status === 401) askKey(Boolean(storedKey())).then(() => loadKbs());
  else status(describe(error));
}

async function loadKbs(preferred) {
  try {
    names = (await getJson("/v1/kbs")).kbs.map((kb) => kb.name);
  } catch (error) {
    if (error.status === 401) {
      await askKey(Boolean(storedKey()));
      return loadKbs(preferred);
    }
    banner(describe(error), "error");
    return;
  }
  fillPicker();
  documents.setKbs(names, preferred || (names.includes(picker.value) ? picker.value : null));
  if (!names.length) status(t("noKb"));
  await documents.refresh();
}

async function checkReady() {
  try {
    const ready = await readiness();
    if (ready.status === "ready") clearBanner();
    else {
      const kind = ready.status === "degraded" ? "warning" : "error";
      const lead = ready.status === "degraded" ? "serverDegraded" : "serverUnavailable";
      banner(t(lead), kind, ready.reasons);
    }
    document.body.dataset.ready = ready.status;
  } catch (error) {
    banner(describe(error), "error");
    document.body.dataset.ready = "unreachable";
  }
}

chooseLanguage();
apply();
const documents = new Documents({ onKbsChanged: (kb) => loadKbs(kb), onProblem });
new Chat({ kbSelection: selection, onUnauthorized: () => askKey(true).then(() => loadKbs()) });

picker.addEventListener("change", () => {
  localStorage.setItem("rag-kb", picker.value);
  if (names.includes(picker.value)) {
    documents.setKbs(names, picker.value);
    documents.refresh();
  }
});
document.getElementById("lang").addEventListener("click", () => {
  setLanguage(language() === "zh" ? "en" : "zh");
  fillPicker();
  documents.show();
});
document.getElementById("key-button").addEventListener("click", () => askKey(false).then(() => loadKbs()));
if (storedKey()) document.getElementById("key-button").hidden = false;

await checkReady();
await loadKbs();
setInterval(checkReady, READY_EVERY_MS);
document.body.dataset.loaded = "true";
