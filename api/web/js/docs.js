// The documents panel: upload (drop or picker; one job per file, its progress and its
// error shown by the file), list and filter, delete; create and delete knowledge bases.

import { getJson, postJson, remove, upload } from "./api.js";
import { el } from "./dom.js";
import { failure, t } from "./i18n.js";
import { describe, status } from "./notices.js";

const POLL_MS = 400;
const PAGE = 1000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Documents {
  constructor({ onKbsChanged, onProblem }) {
    this.onKbsChanged = onKbsChanged; // (select) => Promise: reload the knowledge bases
    this.onProblem = onProblem; // (error) => void: 401 asks for a key
    this.kb = document.getElementById("docs-kb");
    this.list = document.getElementById("doc-list");
    this.filter = document.getElementById("doc-filter");
    this.count = document.getElementById("doc-count");
    this.uploads = document.getElementById("uploads");
    this.documents = [];
    this.total = 0;
    this.kb.addEventListener("change", () => this.refresh());
    this.filter.addEventListener("input", () => this.show());
    this.wireDrop();
    // The server's naming rule, checked before sending and worded in the page's language.
    const kbName = document.getElementById("kb-name");
    kbName.addEventListener("input", () => kbName.setCustomValidity(""));
    kbName.addEventListener("invalid", () => {
      if (kbName.value && kbName.validity.patternMismatch) kbName.setCustomValidity(t("kbNameRule"));
    });
    document.getElementById("kb-create").addEventListener("submit", (e) => {
      e.preventDefault();
      this.createKb();
    });
    document.getElementById("kb-delete").addEventListener("click", () => this.deleteKb());
  }

  wireDrop() {
    const drop = document.getElementById("drop");
    const picker = document.getElementById("files");
    drop.addEventListener("click", () => picker.click());
    drop.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        picker.click();
      }
    });
    picker.addEventListener("change", () => {
      this.add([...picker.files]);
      picker.value = "";
    });
    for (const name of ["dragenter", "dragover"]) {
      drop.addEventListener(name, (e) => {
        e.preventDefault();
        drop.classList.add("over");
      });
    }
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      this.add([...e.dataTransfer.files]);
    });
  }

  setKbs(names, preferred) {
    const keep = preferred && names.includes(preferred) ? preferred : this.kb.value;
    this.kb.replaceChildren(...names.map((n) => el("option", { value: n, textContent: n })));
    if (names.includes(keep)) this.kb.value = keep;
    document.getElementById("kb-delete").disabled = !names.length;
    document.getElementById("drop").setAttribute("aria-disabled", String(!names.length));
  }

  async refresh() {
    const kb = this.kb.value;
    if (!kb) {
      this.documents = [];
      this.total = 0;
      this.show();
      return;
    }
    try {
      const path = `/v1/kbs/${encodeURIComponent(kb)}/documents?limit=${PAGE}`;
      const listing = await getJson(path);
      this.documents = listing.documents;
      this.total = listing.total; // beyond the first PAGE, only those are listed and filtered
    } catch (error) {
      this.documents = [];
      this.total = 0;
      this.onProblem(error);
    }
    this.show();
  }

  show() {
    const needle = this.filter.value.trim().toLowerCase();
    const shown = this.documents.filter(
      (d) => !needle || `${d.source} ${d.title}`.toLowerCase().includes(needle),
    );
    this.count.textContent = t("documentsCount", { shown: shown.length, total: this.total });
    this.list.replaceChildren(...shown.map((d) => this.row(d)));
  }

  row(doc) {
    const button = el("button", { type: "button", className: "danger", textContent: t("deleteDoc") });
    button.setAttribute("aria-label", `${t("deleteDoc")} ${doc.source}`);
    button.addEventListener("click", () => this.deleteDocument(doc));
    const title = doc.title && doc.title !== doc.source ? ` — ${doc.title}` : "";
    return el(
      "li",
      { className: "doc" },
      el("span", { className: "name" }, doc.source + title),
      el("span", { className: "hint" }, t("chunks", { n: doc.chunks })),
      button,
    );
  }

  add(files) {
    const kb = this.kb.value;
    if (!kb || !files.length) return;
    for (const file of files) this.uploadOne(kb, file); // each file its own job
  }

  async uploadOne(kb, file) {
    const state = el("span", { className: "state", textContent: t("uploading") });
    const bar = el("progress", { max: 1, value: 0 });
    const reason = el("span", { className: "reason" });
    const item = el("li", { className: "upload" }, el("span", { className: "name" }, file.name), state, bar, reason);
    item.dataset.state = "uploading";
    this.uploads.prepend(item);
    const set = (key, extra = "") => {
      item.dataset.state = key;
      state.textContent = t(key) + extra;
    };
    try {
      let job = await upload(kb, file);
      while (job.state === "queued" || job.state === "running") {
        set(job.state);
        bar.max = Math.max(1, job.progress.total);
        bar.value = job.progress.done;
        await sleep(POLL_MS);
        job = await getJson(`/v1/jobs/${encodeURIComponent(job.id)}`);
      }
      const result = job.files[0];
      if (job.state === "failed" || !result || result.status === "failed") {
        set("failed");
        bar.remove(); // a failed file has no progress to show, not a full bar
        const said = failure(result && result.code, (result && result.reason) || job.error || "");
        reason.textContent = said.text;
        reason.title = said.detail;
      } else if (result.status === "skipped") {
        bar.max = 1;
        bar.value = 1;
        set("skipped");
      } else {
        bar.max = 1;
        bar.value = 1;
        set("done", ` · ${t("chunks", { n: result.chunks })}`);
      }
    } catch (error) {
      set("failed");
      bar.remove();
      reason.textContent = describe(error);
      this.onProblem(error);
    }
    await this.refresh();
    await this.onKbsChanged(kb);
  }

  async deleteDocument(doc) {
    const kb = this.kb.value;
    if (!confirm(t("confirmDeleteDoc", { name: doc.source, kb }))) return;
    try {
      await remove(`/v1/kbs/${encodeURIComponent(kb)}/documents/${encodeURIComponent(doc.doc_id)}`);
      status(t("deleted", { name: doc.source }));
    } catch (error) {
      status(describe(error));
      this.onProblem(error);
    }
    await this.refresh();
    await this.onKbsChanged(kb);
  }

  async createKb() {
    const name = document.getElementById("kb-name");
    const description = document.getElementById("kb-description");
    if (!name.checkValidity()) {
      name.setCustomValidity(t("kbNameRule"));
      name.reportValidity();
      status(t("kbNameRule"));
      return;
    }
    try {
      await postJson("/v1/kbs", { name: name.value.trim(), description: description.value.trim() });
      status(t("kbCreated", { kb: name.value.trim() }));
      const created = name.value.trim();
      name.value = "";
      description.value = "";
      await this.onKbsChanged(created);
      await this.refresh();
    } catch (error) {
      status(describe(error));
      this.onProblem(error);
    }
  }

  async deleteKb() {
    const kb = this.kb.value;
    if (!kb || !confirm(t("confirmDeleteKb", { kb }))) return;
    try {
      await remove(`/v1/kbs/${encodeURIComponent(kb)}`);
      status(t("kbDeleted", { kb }));
    } catch (error) {
      status(describe(error));
      this.onProblem(error);
    }
    await this.onKbsChanged(null);
    await this.refresh();
  }
}
