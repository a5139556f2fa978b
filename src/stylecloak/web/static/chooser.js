// Step 1 and 2: choose images (with thumbnails and an estimate of the time they take) and options, then upload.
import { $, api, duration, el, showError } from "./common.js";

const state = { files: [], options: null, uploading: false, estimate: 0 };

// Each label[data-choice="NAME"] of the page gets its <select id=NAME name=NAME>, calling onChange when changed.
export function addChoices(onChange) {
  for (const label of document.querySelectorAll("label[data-choice]")) {
    const name = label.dataset.choice;
    label.append(el("select", { id: name, name, onchange: onChange }));
  }
}

function fillSelect(select, entries, chosen) {
  for (const { name, label } of entries) select.append(el("option", { value: name, textContent: label || name }));
  select.value = chosen;
}

export async function loadOptions() {
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
    `${o.limits.max_files} images at a time. Protected copies keep the size and format.`;
  updateHelp();
}

export function updateHelp() {
  const o = state.options;
  if (!o) return;
  const find = (list, name) => (list.find((e) => e.name === name) || {}).help || "";
  const style = $("style").value;
  const method = $("method").value;
  $("artist-field").hidden = style !== o.auto || method !== "glaze";
  const lines = [
    `${$("intensity").selectedOptions[0].textContent}: ${find(o.intensities, $("intensity").value)}.`,
    `${$("quality").selectedOptions[0].textContent}: ${find(o.qualities, $("quality").value)}.`,
    style === o.auto
      ? "Style auto: the style remembered for this artist profile; chosen from your images the first time (about a minute)."
      : `Style ${style}: ${find(o.styles, style)}`,
  ];
  if (method !== "glaze") lines.push(`Method ${method}: ${find(o.methods, method)}.`);
  lines.push(`Metadata ${$("metadata").value}: ${find(o.metadata, $("metadata").value)}.`);
  lines.push(`AI training ${$("optout").value}: ${find(o.optouts, $("optout").value)}.`);
  $("choice-help").replaceChildren(...lines.map((text) => el("li", { textContent: text })));
  estimate();
}

function addFiles(list) {
  const limits = state.options ? state.options.limits : null;
  const problems = [];
  for (const file of list) {
    if (file.type && !file.type.startsWith("image/")) problems.push(`${file.name} is not an image.`);
    else if (limits && file.size > limits.max_upload_mb * 1024 * 1024)
      problems.push(`${file.name} is ${(file.size / 1048576).toFixed(1)} MB; the limit is ${limits.max_upload_mb} MB per image.`);
    else if (limits && state.files.length >= limits.max_files)
      problems.push(`At most ${limits.max_files} images at a time; ${file.name} was left out.`);
    else state.files.push({ file, thumb: URL.createObjectURL(file), size: null });
  }
  showError(problems.join(" "));
  renderChosen();
  measure();
}

/** Each chosen image's pixel size (read in the browser), for the estimate; images the browser cannot show are left out. */
async function measure() {
  await Promise.all(
    state.files
      .filter((entry) => entry.size === null)
      .map(async (entry) => {
        try {
          const bitmap = await createImageBitmap(entry.file);
          entry.size = `${bitmap.width}x${bitmap.height}`;
          bitmap.close();
        } catch {
          entry.size = "";
        }
      }),
  );
  estimate();
}

async function estimate() {
  const line = $("estimate");
  const sizes = state.files.map((entry) => entry.size).filter(Boolean);
  const ticket = ++state.estimate;
  if (!sizes.length) {
    line.textContent = "";
    return;
  }
  const query = new URLSearchParams({ sizes: sizes.join(","), quality: $("quality").value, intensity: $("intensity").value, method: $("method").value });
  try {
    const { seconds } = await api(`/api/estimate?${query}`);
    if (ticket !== state.estimate) return;
    line.textContent = seconds === null
      ? "The time it takes shows here once this computer has protected its first image."
      : `Estimated time: ${duration(seconds)} on this computer.`;
  } catch {
    line.textContent = "";
  }
}

function renderChosen() {
  const items = state.files.map((entry, index) =>
    el(
      "li",
      {},
      el("img", { className: "thumb", src: entry.thumb, alt: "" }),
      el("span", { className: "chosen-name", textContent: entry.file.name }),
      el("span", { className: "hint", textContent: ` ${Math.max(1, Math.round(entry.file.size / 1024))} KB ` }),
      el("button", {
        type: "button",
        className: "small",
        textContent: "Remove",
        "aria-label": `Remove ${entry.file.name}`,
        onclick: () => {
          URL.revokeObjectURL(entry.thumb);
          state.files.splice(index, 1);
          renderChosen();
          estimate();
        },
      }),
    ),
  );
  $("chosen").replaceChildren(...items);
  const n = state.files.length;
  $("protect").disabled = n === 0 || state.uploading;
  $("protect").textContent = state.uploading ? "Uploading…" : n ? `Protect ${n} image${n > 1 ? "s" : ""}` : "Protect";
}

export function setupDrop() {
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

/** Upload the chosen images; ``started(job, thumbs)`` shows the new job (thumbs: object URLs in upload order). */
export async function submit(event, started) {
  event.preventDefault();
  if (!state.files.length || state.uploading) return;
  const entries = state.files;
  const form = new FormData();
  for (const name of ["intensity", "quality", "style", "artist", "method", "metadata", "optout"]) form.append(name, $(name).value);
  for (const { file } of entries) form.append("files", file, file.name);
  state.files = [];
  state.uploading = true;
  renderChosen();
  showError("");
  try {
    started(await api("/api/jobs", { method: "POST", body: form }), entries.map((e) => e.thumb));
  } catch (error) {
    state.files = entries.concat(state.files);
    showError(error instanceof TypeError ? "The upload failed: the server closed the connection (is it too large?)." : error.message);
  }
  state.uploading = false;
  renderChosen();
  estimate();
}
