// Jobs on the page: progress and time left while working, then each image's gauge, comparison and downloads.
import { $, api, duration, el, kept, showError } from "./common.js";
import { result } from "./result.js";
import { saveAllButton } from "./save.js";

const POLL_MS = 700;
const STATUS_TEXT = {
  queued: "waiting",
  running: "working",
  checking: "checking what survives a re-upload",
  done: "finished",
  cancelled: "cancelled",
  failed: "could not be protected",
};

export class JobView {
  /** ``thumbs``: object URLs of the images as uploaded from this page, in order (none after a reload). */
  constructor(job, thumbs = []) {
    this.id = job.id;
    this.thumbs = thumbs;
    this.items = new Map();
    this.job = job;
    const o = job.options;
    this.badge = el("span", { className: "badge" });
    this.line = el("p", { className: "status-line" });
    this.cancelButton = el("button", { type: "button", textContent: "Cancel", onclick: () => this.cancel() });
    this.save = saveAllButton(() => this.job);
    this.zip = el("a", { className: "button", textContent: "Download all (zip)", hidden: true });
    this.zip.setAttribute("download", "");
    this.removeButton = el("button", { type: "button", textContent: "Remove", hidden: true, onclick: () => this.remove() });
    const n = job.items.length;
    const title = `${n} image${n > 1 ? "s" : ""} · ${o.intensity} intensity · ${o.quality} quality` + (o.method !== "glaze" ? ` · method ${o.method}` : "");
    this.styleNote = el("span", { className: "hint" });
    this.list = el("div", { className: "items" });
    this.root = el(
      "article",
      { className: "panel job", "data-job": job.id },
      el("div", { className: "job-head" },
        el("h2", {}, title, " ", this.badge), this.styleNote,
        el("div", { className: "actions" }, this.cancelButton, this.save, this.zip, this.removeButton)),
      this.line,
      this.list,
    );
    $("jobs").prepend(this.root);
    this.update(job);
  }

  update(job) {
    this.job = job;
    this.badge.textContent = STATUS_TEXT[job.status] || job.status;
    this.badge.className = `badge ${job.status}`;
    this.root.dataset.status = job.status;
    this.styleNote.textContent = job.target_style ? `target style: ${job.target_style}` : "";
    const active = job.status === "queued" || job.status === "running";
    this.cancelButton.hidden = !active;
    this.removeButton.hidden = active;
    this.zip.hidden = !job.zip_url;
    this.save.hidden = !job.zip_url || !this.save.usable;
    if (job.zip_url) this.zip.href = job.zip_url;
    this.line.textContent = this.describe(job);
    job.items.forEach((item, index) => this.updateItem(item, index));
    if (active) this.timer = setTimeout(() => this.poll(), POLL_MS);
  }

  describe(job) {
    const left = job.seconds_left != null ? ` Time left: ${duration(job.seconds_left)}.` : "";
    if (job.status === "queued")
      return (job.ahead ? `Waiting: ${job.ahead} job${job.ahead > 1 ? "s" : ""} ahead of this one.` : "Starting…") + left;
    if (job.phase) return `${job.phase[0].toUpperCase()}${job.phase.slice(1)}…${left}`;
    const done = job.items.filter((i) => i.status === "done").length;
    const failed = job.items.filter((i) => i.status === "failed").length;
    const skipped = failed ? ` ${failed} could not be protected (see below).` : "";
    if (job.status === "running") return `Working: ${done} of ${job.items.length} done.${left}${skipped} You can keep using this page.`;
    return `${done} of ${job.items.length} protected.${skipped} Files are deleted an hour after you last look at them.`;
  }

  updateItem(item, index) {
    let view = this.items.get(item.id);
    if (!view) {
      view = {
        thumb: el("img", { className: "thumb", alt: "", hidden: true }),
        thumbSource: "",
        bar: el("progress", { max: 1, value: 0 }),
        text: el("span", { className: "item-status" }),
        body: el("div", { className: "item-body" }),
        shown: false,
      };
      view.root = el("section", { className: "item", "data-item": item.id },
        el("div", { className: "item-head" }, view.thumb, el("h3", { textContent: item.name }), view.bar, view.text),
        view.body);
      this.items.set(item.id, view);
      this.list.append(view.root);
    }
    view.root.dataset.status = item.status;
    const thumb = this.thumbs[index] || item.urls.before || "";  // as uploaded from this page, else the server's copy
    if (thumb && !view.thumbSource) {
      view.thumbSource = view.thumb.src = thumb;
      view.thumb.hidden = false;
    }
    view.bar.max = item.total || 1;
    view.bar.value = item.status === "done" ? view.bar.max : item.step;
    view.bar.hidden = item.status !== "running" && item.status !== "queued";
    view.text.textContent =
      item.status === "running" && item.total ? `step ${item.step} of ${item.total}` : STATUS_TEXT[item.status] || item.status;
    const warnings = [item.warning].filter(Boolean).map((text) => el("p", { className: "warning", textContent: text }));
    if ((item.status === "queued" || item.status === "running") && item.expected !== null) {
      const guess = el("p", { className: "hint", textContent: `Expected protection (from a quick trial): about ${Math.round(item.expected * 100)} % of the way to the target style.` });
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
    kept.remove(this.id);
    for (const url of this.thumbs) URL.revokeObjectURL(url);
    this.root.remove();
  }
}

/** After a reload: the jobs this browser started that the server still has (the others are forgotten). */
export async function restoreJobs() {
  const ids = kept.ids();
  if (!ids.length) return;
  const { jobs } = await api(`/api/jobs?ids=${ids.map(encodeURIComponent).join(",")}`);
  kept.set(jobs.map((job) => job.id));
  for (const job of jobs) new JobView(job);
}
