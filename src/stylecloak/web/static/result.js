// A finished image: the protection gauge, before/after at 100 %, what the model sees, the numbers, the download.
import { el } from "./common.js";

/** The gauge: strong / moderate / weak with the percentage, decided by the server from what survives a re-upload. */
export function gaugeView(gauge) {
  const word = gauge.word;
  return el("div", { className: `gauge ${word}`, "data-word": word },
    el("meter", { min: 0, max: 100, low: 25, high: 50, optimum: 100, value: gauge.percent, "aria-label": "Protection" }),
    el("p", { className: "gauge-label" },
      el("strong", { className: "gauge-word", textContent: word[0].toUpperCase() + word.slice(1) }),
      " protection · ",
      el("span", { className: "gauge-percent", textContent: `${gauge.percent} %` })),
    el("p", { className: "hint gauge-text", textContent: gauge.text }));
}

function compare(item) {
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
  return [
    el("div", { className: "compare-bar" },
      el("span", { textContent: "Original" }), slider, el("span", { textContent: "Protected" }),
      el("label", { className: "hint" }, fit, " fit to width")),
    el("div", { className: "compare-side" },
      scroller,
      el("p", { className: "hint", textContent: "Shown at 100 %: one image pixel per screen pixel. Scroll to pan; move the slider to compare." })),
  ];
}

function preview(item) {
  const captions = ["Your original, as the model sees it", "The protected image, as the model sees it", `The target style: ${item.summary.target_style}`];
  return el("figure", { className: "preview" },
    el("img", { src: item.urls.preview, alt: "What the model sees: original, protected, target" }),
    el("figcaption", { className: "preview-captions" }, ...captions.map((text) => el("span", { textContent: text }))));
}

function numbers(list, className) {
  const words = el("dl", { className });
  for (const { label, text } of list) words.append(el("dt", { textContent: label }), el("dd", { textContent: text }));
  return words;
}

export function result(item) {
  const download = el("a", { className: "button primary", href: item.urls.download, textContent: "Download protected image" });
  download.setAttribute("download", "");
  return el("div", { className: "result" },
    ...compare(item),
    el("div", { className: "result-side" },
      gaugeView(item.gauge),
      numbers(item.words, "words"),
      el("div", { className: "actions" }, download),
      preview(item),
      el("details", { className: "details" }, el("summary", { textContent: "Details" }), numbers(item.details, "words technical"))));
}
