// Shared by the page's modules: building elements, talking to the server, words for times.

export const $ = (id) => document.getElementById(id);

/** Create an element; attrs become properties (or attributes for data-/aria-), children are nodes or text. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("data-") || key.startsWith("aria-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

export function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

/** The per-server token the page was served with; the server refuses changes without it. */
const TOKEN = document.querySelector('meta[name="stylecloak-token"]').content;

export async function api(url, options = {}) {
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

/** "about 3 min", "about 40 s", "under 10 s". */
export function duration(seconds) {
  if (seconds < 10) return "under 10 s";
  if (seconds < 90) return `about ${Math.round(seconds / 10) * 10} s`;
  if (seconds < 5400) return `about ${Math.round(seconds / 60)} min`;
  return `about ${(seconds / 3600).toFixed(1)} h`;
}

/** Job ids this browser started, kept across reloads (the server forgets a job an hour after it finished). */
const KEPT = "stylecloak.jobs";

export const kept = {
  ids() {
    try {
      const ids = JSON.parse(localStorage.getItem(KEPT) || "[]");
      return Array.isArray(ids) ? ids.filter((id) => typeof id === "string") : [];
    } catch {
      return [];
    }
  },
  set(ids) {
    try {
      localStorage.setItem(KEPT, JSON.stringify(ids));
    } catch {
      /* storage disabled: jobs are then shown until the page is closed */
    }
  },
  add(id) {
    this.set([...this.ids().filter((x) => x !== id), id]);
  },
  remove(id) {
    this.set(this.ids().filter((x) => x !== id));
  },
};
