// stylecloak web page: choose images and options, queue a job, poll its status, show results.
"use strict";

const POLL_MS = 700;
const state = { files: [], options: null, uploading: false };
const $ = (id) => document.getElementById(id);

/** Create an element; attrs become properties (or attributes for data-/aria-), children are nodes or text. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("data-") || key.startsWith("aria-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

/** The per-server token the page was served with; the server refuses changes without it. */
const TOKEN = document.querySelector('meta[name="stylecloak-token"]').content;

async function api(url, options = {}) {
  const method = (options.method || "GET").toUpperCase();
  const headers = method === "GET" ? options.headers : { ...options.headers, "X-Stylecloak-Token": TOKEN };
  const response = await fetch(url, { ...options, headers, credentials: "same-origin" });
  if (response.status === 204) return null;
  let body = null;
  try {
    body = await response.json();
  } catch {
    /* not JSON: handled below */
  }
  if (!response.ok) throw new Error((body && body.error) || `The server answered ${response.status}.`);
  return body;
}

// ------------------------------------------------------------------ options and file choice

function fillSelect(select, entries, chosen) {
  for (const { name, label } of entries) select.append(el("option", { value: name, textContent: label || name }));
  select.value = chosen;
}

async function loadOptions() {
  const o = await api("/api/options");
  state.options = o;
  fillSelect($("intensity"), o.intensities, "default");
  fillSelect($("quality"), o.qualities, "default");
  fillSelect($("style"), [{ name: o.auto, label: "auto (from the artist profile)" }, ...o.styles], o.auto);
  fillSelect($("method"), o.methods, "glaze");
  fillSelect($("metadata"), o.metadata, "minimal");
  fillSelect($("optout"), o.optouts, "genai");
  const mp = Math.round(o.limits.max_pixels / 1e6);
  $("limits").textContent =
    `PNG, JPEG, WebP, TIFF, BMP or GIF · up to ${o.limits.max_upload_mb} MB and ${mp} megapixels each · ` +
    `${o.limits.max_files} images per job. Protected copies keep the size and format.`;
  updateHelp();
}

function updateHelp() {
  const o = state.options;
  if (!o) return;
  const find = (list, name) => (list.find((e) => e.name === name) || {}).help || "";
  const style = $("style").value;
  const method = $("method").value;
  $("artist-field").hidden = style !== o.auto || method !== "glaze";
  const lines = [
    `Intensity ${$("intensity").value}: ${find(o.intensities, $("intensity").value)}.`,
    `Quality ${$("quality").value}: ${find(o.qualities, $("quality").value)}.`,
    style === o.auto
      ? "Style auto: the style remembered for this artist profile; chosen from your images the first time (about a minute)."
      : `Style ${style}: ${find(o.styles, style)}`,
  ];
  if (method !== "glaze") lines.push(`Method ${method}: ${find(o.methods, method)}.`);
  lines.push(`Metadata ${$("metadata").value}: ${find(o.metadata, $("metadata").value)}.`);
  lines.push(`AI training ${$("optout").value}: ${find(o.optouts, $("optout").value)}.`);
  $("choice-help").replaceChildren(...lines.map((text) => el("li", { textContent: text })));
}

function addFiles(list) {
  const limits = state.options ? state.options.limits : null;
  const problems = [];
  for (const file of list) {
    if (file.type && !file.type.startsWith("image/")) problems.push(`${file.name} is not an image.`);
    else if (limits && file.size > limits.max_upload_mb * 1024 * 1024)
      problems.push(`${file.name} is ${(file.size / 1048576).toFixed(1)} MB; the limit is ${limits.max_upload_mb} MB per image.`);
    else if (limits && state.files.length >= limits.max_files)
      problems.push(`At most ${limits.max_files} images per job; ${file.name} was left out.`);
    else state.files.push(file);
  }
  showError(problems.join(" "));
  renderChosen();
}

function renderChosen() {
  const items = state.files.map((file, index) =>
    el(
      "li",
      {},
      el("span", { textContent: file.name }),
      el("span", { className: "hint", textContent: ` ${Math.max(1, Math.round(file.size / 1024))} KB ` }),
      el("button", {
        type: "button",
        className: "small",
        textContent: "Remove",
        onclick: () => {
          state.files.splice(index, 1);
          renderChosen();
        },
      }),
    ),
  );
  $("chosen").replaceChildren(...items);
  const n = state.files.length;
  $("protect").disabled = n === 0 || state.uploading;
  $("protect").textContent = state.uploading ? "Uploading…" : n ? `Protect ${n} image${n > 1 ? "s" : ""}` : "Protect";
}

function setupDrop() {
  const drop = $("drop");
  const input = $("file-input");
  drop.addEventListener("click", () => input.click());
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      input.click();
    }
  });
  input.addEventListener("change", () => {
    addFiles(input.files);
    input.value = "";
  });
  for (const type of ["dragenter", "dragover"])
    drop.addEventListener(type, (e) => {
      e.preventDefault();
      drop.classList.add("over");
    });
  for (const type of ["dragleave", "drop"]) drop.addEventListener(type, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    addFiles(e.dataTransfer.files);
  });
}

async function submit(event) {
  event.preventDefault();
  if (!state.files.length || state.uploading) return;
  const files = state.files;
  const form = new FormData();
  for (const name of ["intensity", "quality", "style", "artist", "method", "metadata", "optout"]) form.append(name, $(name).value);
  for (const file of files) form.append("files", file, file.name);
  state.files = [];
  state.uploading = true;
  renderChosen();
  showError("");
  try {
    new JobView(await api("/api/jobs", { method: "POST", body: form }));
  } catch (error) {
    state.files = files.concat(state.files);
    showError(error instanceof TypeError ? "The upload failed: the server closed the connection (is it too large?)." : error.message);
  }
  state.uploading = false;
  renderChosen();
}

// ------------------------------------------------------------------ jobs

const STATUS_TEXT = { queued: "waiting", running: "working", done: "finished", cancelled: "cancelled", failed: "failed" };

class JobView {
  constructor(job) {
    this.id = job.id;
    this.items = new Map();
    const o = job.options;
    this.badge = el("span", { className: "badge" });
    this.line = el("p", { className: "status-line" });
    this.cancelButton = el("button", { type: "button", textContent: "Cancel", onclick: () => this.cancel() });
    this.zip = el("a", { className: "button", textContent: "Download all (zip)", hidden: true });
    this.zip.setAttribute("download", "");
    this.removeButton = el("button", { type: "button", textContent: "Remove", hidden: true, onclick: () => this.remove() });
    const n = job.items.length;
    const title = `${n} image${n > 1 ? "s" : ""} · intensity ${o.intensity} · quality ${o.quality}` + (o.method !== "glaze" ? ` · method ${o.method}` : "");
    this.styleNote = el("span", { className: "hint" });
    this.list = el("div", { className: "items" });
    this.root = el(
      "article",
      { className: "panel job", "data-job": job.id },
      el("div", { className: "job-head" },
        el("h2", {}, title, " ", this.badge), this.styleNote,
        el("div", { className: "actions" }, this.cancelButton, this.zip, this.removeButton)),
      this.line,
      this.list,
    );
    $("jobs").prepend(this.root);
    this.update(job);
  }

  update(job) {
    this.badge.textContent = STATUS_TEXT[job.status] || job.status;
    this.badge.className = `badge ${job.status}`;
    this.root.dataset.status = job.status;
    this.styleNote.textContent = job.target_style ? `target style: ${job.target_style}` : "";
    const active = job.status === "queued" || job.status === "running";
    this.cancelButton.hidden = !active;
    this.removeButton.hidden = active;
    this.zip.hidden = !job.zip_url;
    if (job.zip_url) this.zip.href = job.zip_url;
    this.line.textContent = this.describe(job);
    for (const item of job.items) this.updateItem(item);
    if (active) this.timer = setTimeout(() => this.poll(), POLL_MS);
  }

  describe(job) {
    if (job.status === "queued")
      return job.ahead ? `Waiting: ${job.ahead} job${job.ahead > 1 ? "s" : ""} ahead of this one.` : "Starting…";
    if (job.phase) return `${job.phase[0].toUpperCase()}${job.phase.slice(1)}…`;
    const done = job.items.filter((i) => i.status === "done").length;
    if (job.status === "running") return `Working: ${done} of ${job.items.length} done. You can keep using this page.`;
    return `${done} of ${job.items.length} protected. Files are deleted an hour after you last look at them.`;
  }

  updateItem(item) {
    let view = this.items.get(item.id);
    if (!view) {
      view = {
        bar: el("progress", { max: 1, value: 0 }),
        text: el("span", { className: "hint" }),
        body: el("div", { className: "item-body" }),
        shown: false,
      };
      view.root = el("section", { className: "item", "data-item": item.id },
        el("div", { className: "item-head" }, el("h3", { textContent: item.name }), view.bar, view.text),
        view.body);
      this.items.set(item.id, view);
      this.list.append(view.root);
    }
    view.root.dataset.status = item.status;
    view.bar.max = item.total || 1;
    view.bar.value = item.status === "done" ? view.bar.max : item.step;
    view.bar.hidden = item.status !== "running" && item.status !== "queued";
    view.text.textContent =
      item.status === "running" && item.total ? `step ${item.step} of ${item.total}` : STATUS_TEXT[item.status] || item.status;
    // the input's warning (e.g. only the first frame) and, once protected, how well protection worked
    const warnings = [item.warning, ...(item.summary?.warnings || [])].filter(Boolean).map((text) => el("p", { className: "warning", textContent: text }));
    if ((item.status === "queued" || item.status === "running") && item.expected !== null) {
      // before the result: what the quick trial cloak predicts
      const guess = el("p", { className: "hint", textContent: `Expected protection (from a quick trial): the model's view moves about ${Math.round(item.expected * 100)}% of the way to the target style.` });
      view.body.replaceChildren(guess, ...item.estimate.map((text) => el("p", { className: "warning", textContent: text })), ...warnings);
    }
    if (item.status === "failed") view.body.replaceChildren(el("p", { className: "error", textContent: item.error }), ...warnings);
    if (item.status === "done" && !view.shown) {
      view.shown = true;
      view.body.replaceChildren(...warnings, result(item));
    }
  }

  async poll() {
    try {
      this.update(await api(`/api/jobs/${this.id}`));
    } catch (error) {
      this.line.textContent = error.message;
      this.cancelButton.hidden = true;
      this.removeButton.hidden = false;
    }
  }

  async cancel() {
    clearTimeout(this.timer);
    this.cancelButton.disabled = true;
    try {
      this.update(await api(`/api/jobs/${this.id}/cancel`, { method: "POST" }));
    } catch (error) {
      showError(error.message);
    }
  }

  async remove() {
    clearTimeout(this.timer);
    try {
      await api(`/api/jobs/${this.id}`, { method: "DELETE" });
    } catch {
      /* already gone */
    }
    this.root.remove();
  }
}

/** The finished image: before/after slider at 100 %, what the model sees, the numbers, downloads. */
function result(item) {
  const s = item.summary;
  const after = el("img", { className: "after", src: item.urls.after, alt: `${item.name}, protected`, width: s.width, height: s.height });
  const line = el("div", { className: "divider" });
  const stage = el("div", { className: "stage" },
    el("img", { className: "before", src: item.urls.before, alt: `${item.name}, original`, width: s.width, height: s.height }),
    after, line);
  const slider = el("input", { type: "range", min: 0, max: 100, value: 50, "aria-label": "Before / after split" });
  const split = () => {
    after.style.clipPath = `inset(0 0 0 ${slider.value}%)`;
    line.style.left = `${slider.value}%`;
  };
  slider.addEventListener("input", split);
  split();
  const scroller = el("div", { className: "compare" }, stage);
  const fit = el("input", { type: "checkbox", onchange: () => scroller.classList.toggle("fit", fit.checked) });
  const words = el("dl", { className: "words" });
  for (const { label, text } of item.words) words.append(el("dt", { textContent: label }), el("dd", { textContent: text }));
  const download = el("a", { className: "button primary", href: item.urls.download, textContent: "Download protected image" });
  download.setAttribute("download", "");
  return el("div", { className: "result" },
    el("div", { className: "compare-bar" },
      el("span", { textContent: "Original" }), slider, el("span", { textContent: "Protected" }),
      el("label", { className: "hint" }, fit, " fit to width")),
    el("div", { className: "compare-side" },
      scroller,
      el("p", { className: "hint", textContent: "Shown at 100 %: one image pixel per screen pixel. Scroll to pan; move the slider to compare." })),
    el("div", { className: "result-side" },
      el("figure", { className: "preview" },
        el("img", { src: item.urls.preview, alt: "What the model sees: original, protected, target" }),
        el("figcaption", { className: "hint", textContent: "What an AI model sees: your original, the protected image, and the target style it is pushed toward." })),
      words,
      el("div", { className: "actions" }, download)));
}

document.addEventListener("DOMContentLoaded", () => {
  setupDrop();
  for (const id of ["intensity", "quality", "style", "method", "metadata", "optout"]) $(id).addEventListener("change", updateHelp);
  $("upload-form").addEventListener("submit", submit);
  loadOptions().catch((error) => showError(`Cannot reach the server: ${error.message}`));
});
