// "Save all to a folder": every protected image of a job written into a folder the artist picks, where the
// browser allows it (File System Access API); elsewhere the zip and the per-image downloads remain.
import { el, showError } from "./common.js";

/** A free name in ``folder``: ``name``, else ``stem-2.ext``, ``stem-3.ext``… (nothing already there is replaced). */
async function freeName(folder, name) {
  const dot = name.lastIndexOf(".");
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ""];
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? name : `${stem}-${n}${ext}`;
    try {
      await folder.getFileHandle(candidate);
    } catch (error) {
      if (error.name === "NotFoundError") return candidate;
      throw error;
    }
  }
}

async function saveAll(job, button) {
  let folder;
  try {
    folder = await window.showDirectoryPicker({ mode: "readwrite", id: "stylecloak-protected" });
  } catch {
    return; // the artist closed the picker
  }
  const done = job.items.filter((item) => item.urls.download);
  button.disabled = true;
  try {
    for (const [index, item] of done.entries()) {
      button.textContent = `Saving ${index + 1} of ${done.length}…`;
      const response = await fetch(item.urls.download, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`${item.name}: the server no longer has the protected copy.`);
      const file = await folder.getFileHandle(await freeName(folder, item.download_name), { create: true });
      const writable = await file.createWritable();
      await response.body.pipeTo(writable);
    }
    button.textContent = `Saved ${done.length} to “${folder.name}”`;
  } catch (error) {
    showError(`Saving to the folder stopped: ${error.message}`);
    button.textContent = "Save all to a folder…";
  }
  button.disabled = false;
}

/** The button, hidden where the browser cannot write to a folder (``usable`` false). */
export function saveAllButton(currentJob) {
  const button = el("button", { type: "button", textContent: "Save all to a folder…", hidden: true });
  button.usable = typeof window.showDirectoryPicker === "function";
  button.addEventListener("click", () => saveAll(currentJob(), button));
  return button;
}
