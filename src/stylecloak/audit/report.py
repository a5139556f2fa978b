"""The audit's report: means over images per mimic size, the headline (worst size after the repost trip), the
visibility referee's mean and worst image, JSON, Markdown and a plot."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..referee import mean_and_worst
from ..transforms import REPOSTS
from .learned_report import md_detection, md_learned

if TYPE_CHECKING:
    from .settings import AuditSettings


def worst(per_size: dict[str, dict]) -> dict:
    """For each number, the minimum over mimic sizes; the size where plain TP is lowest; and the headline
    ``protection`` (:func:`protection`)."""

    def low(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return min(present) if present else None

    entries = list(per_size.values())
    names = list(entries[0]["countermeasures"])
    encoders = list(entries[0]["by_encoder"])

    def worst_of(items: list[dict]) -> dict:
        return {
            "target_progress": low([e["target_progress"] for e in items]),
            "style_progress": low([e["style_progress"] for e in items]),
            "transfer_progress": low([e["transfer_progress"] for e in items]),
            "by_encoder": {k: low([e["by_encoder"][k] for e in items]) for k in encoders},
            **_roundtrip(items, max),  # the mimic's smallest price
        }

    tp = {k: v["target_progress"] for k, v in per_size.items() if v["target_progress"] is not None}
    return {
        **worst_of(entries),
        "worst_size": int(min(tp, key=tp.__getitem__)) if tp else None,
        "view_change": low([e["view_change"] for e in entries]),
        "countermeasures": {c: worst_of([e["countermeasures"][c] for e in entries]) for c in names},
        "protection": protection(per_size),
    }


def protection(per_size: dict[str, dict]) -> dict:
    """The headline: target progress at the worst mimic size after the repost trip (the worst of the
    :data:`~stylecloak.transforms.REPOSTS` measured: artists post, mimics scrape what the platform serves),
    with that row's countermeasure and size, and the worst style progress over the same rows. Without repost
    rows, plain TP. Plain TP (``target_progress``) stays beside it as the floor."""
    names = [c for c in REPOSTS if c in next(iter(per_size.values()))["countermeasures"]]
    rows = [(int(size), c, e["countermeasures"][c] if c != "none" else e) for size, e in per_size.items() for c in names or ["none"]]
    tp = [(r["target_progress"], size, c) for size, c, r in rows if r["target_progress"] is not None]
    sp = [r["style_progress"] for _, _, r in rows if r["style_progress"] is not None]
    low = min(tp) if tp else (None, None, None)
    return {"target_progress": low[0], "style_progress": min(sp) if sp else None, "countermeasure": low[2], "size": low[1]}


PRICES = ("clean_roundtrip_psnr_db", "cleaned_clean_psnr_db")
"""What an adaptive countermeasure costs clean images (robust_encoder's round trip, learned_cleaner's cleaning), in dB PSNR."""


def _roundtrip(entries: list[dict], combine: Callable[[list], float | None]) -> dict:
    """The :data:`PRICES` of ``entries`` combined, where they have them (the adaptive countermeasures' entries)."""
    return {key: combine([e[key] for e in entries]) for key in PRICES if key in entries[0]}


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else None


def summary(images: list[dict], countermeasures: tuple[str, ...]) -> dict:
    """Means over images, per mimic size; the headline numbers are the worst size's means."""

    def progress(entries: list[dict]) -> dict:
        encoders = entries[0]["by_encoder"]
        return {
            "target_progress": _mean([e["target_progress"] for e in entries]),
            "style_progress": _mean([e["style_progress"] for e in entries]),
            "transfer_progress": _mean([e["transfer_progress"] for e in entries]),
            "by_encoder": {k: _mean([e["by_encoder"][k] for e in entries]) for k in encoders},
            **_roundtrip(entries, _mean),
        }

    sizes = {
        size: {
            **progress([im["sizes"][size] for im in images]),
            "view_change": _mean([im["sizes"][size]["view_change"] for im in images]),
            "countermeasures": {c: progress([im["sizes"][size]["countermeasures"][c] for im in images]) for c in countermeasures},
        }
        for size in images[0]["sizes"]
    }
    return {
        "images": len(images),
        **worst(sizes),
        **{k: _mean([im[k] for im in images]) for k in ("psnr_db", "ssim", "perceptual_distance")},
        "visibility": mean_and_worst([im["visibility"] for im in images]),
        "seconds_per_image": _mean([im["seconds"] for im in images]),
        "sizes": sizes,
    }


def _fmt(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


@dataclass
class AuditReport:
    """Per-image records, their mean, the mimic study (if run) and the settings."""

    settings: AuditSettings
    images: list[dict]
    summary: dict
    mimic: dict | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    robust_encoder: dict | None = None
    """How the ``robust_encoder`` mimic's pairs were made and its encoders trained (TP on its own pairs before/after)."""
    learned_cleaner: dict | None = None
    """The ``learned_cleaner`` attacker's size, training budget and record."""
    detection: dict | None = None
    """How well the learned attacker's detector tells cloaked from clean (AUC, TPR at 1 % FPR, by mimic size)."""

    def rows(self) -> list[tuple[str, float | None, float | None]]:
        """(countermeasure, mean TP, mean transfer TP) at the worst mimic size of each, "none" first."""
        s = self.summary
        return [("none", s["target_progress"], s["transfer_progress"])] + [
            (c, v["target_progress"], v["transfer_progress"]) for c, v in s["countermeasures"].items()
        ]

    def size_rows(self) -> list[tuple[str, dict[str, float | None]]]:
        """(countermeasure, {mimic size: mean TP}), "none" first."""
        sizes = self.summary["sizes"]
        names = ["none", *self.summary["countermeasures"]]
        return [(c, {k: (v if c == "none" else v["countermeasures"][c])["target_progress"] for k, v in sizes.items()}) for c in names]

    def style_row(self) -> list[float | None]:
        """Mean style progress at the worst mimic size, in the order of :meth:`rows`."""
        s = self.summary
        return [s["style_progress"], *(v["style_progress"] for v in s["countermeasures"].values())]

    def to_dict(self) -> dict:
        return {
            "summary": self.summary,
            "images": self.images,
            "mimic": self.mimic,
            "settings": asdict(self.settings),
            "warnings": self.warnings,
            "seconds": round(self.seconds, 1),
            "robust_encoder": self.robust_encoder,
            "learned_cleaner": self.learned_cleaner,
            "detection": self.detection,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_markdown(self) -> str:
        """The report in Markdown: overview, per image, the mimic proxy and the adaptive attackers where run, warnings."""
        lines = [*self._md_overview(), "", *self._md_images()]
        if self.mimic:
            lines += self._md_mimic(self.mimic)
        if self.robust_encoder:
            lines += self._md_robust(self.robust_encoder)
        if self.learned_cleaner:
            lines += md_learned(self.learned_cleaner, self.summary["countermeasures"].get("learned_cleaner", {}))
        if self.detection:
            lines += md_detection(self.detection)
        if self.warnings:
            lines += ["", "## Warnings", "", *(f"- {w}" for w in self.warnings)]
        return "\n".join(lines) + "\n"

    def _md_overview(self) -> list[str]:
        """What was audited, the headline, the cost, and TP per countermeasure and mimic size."""
        s, st = self.summary, self.settings
        return [
            "# Protection audit",
            "",
            (
                f"{s['images']} image(s), method {st.method}, target `{st.target_style}`, attacked: {', '.join(st.backbones)}, "
                f"transfer: {', '.join(st.transfer) or '–'}, mimic sizes {', '.join(map(str, st.mimic_sizes))} px, "
                f"{self.seconds:.0f} s ({_fmt(s['seconds_per_image'], 1)} s per image)."
            ),
            "",
            _headline(s),
            "",
            f"Cost: PSNR {_fmt(s['psnr_db'])} dB, SSIM {_fmt(s['ssim'], 3)}, perceptual distance {_fmt(s['perceptual_distance'], 3)}.",
            "",
            _visibility_line(s["visibility"]),
            "",
            "| countermeasure | " + " | ".join(f"TP at {k} px" for k in s["sizes"]) + " | worst SP | worst TP | worst transfer |",
            "|---|" + "---|" * (len(s["sizes"]) + 3),
            *(
                f"| {name} | " + " | ".join(_fmt(v) for v in by_size.values()) + f" | {_fmt(sp)} | {_fmt(tp)} | {_fmt(tr)} |"
                for (name, by_size), (_, tp, tr), sp in zip(self.size_rows(), self.rows(), self.style_row())
            ),
            "",
            "TP = 1 − ‖Φ(C(x′)) − t‖ / ‖Φ(C(x)) − t‖ (0: no effect, 1: the encoder sees the target), measured with the",
            'image resized to each mimic size; "worst" is the minimum over sizes. SP = 1 − ‖s(Φ(C(x′))) − s_T‖ / ‖s(Φ(C(x))) − s_T‖,',
            "s the latent channel means and deviations a mimic learns, s_T the target style's at the mimic size.",
            "",
            "View change ‖Φ(x′) − Φ(x)‖ / ‖Φ(x)‖ (how far the cloak moved the encoder's view, whatever its target): "
            + ", ".join(f"{_fmt(v['view_change'], 3)} at {k} px" for k, v in s["sizes"].items())
            + ".",
        ]

    def _md_images(self) -> list[str]:
        """Each image's numbers."""
        return [
            "## Per image",
            "",
            "| image | after repost | worst TP | at px | transfer | PSNR dB | SSIM | MS-SSIM | VIF | perceptual | s |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            *(
                f"| {Path(im['original']).name} | {_fmt(im['protection']['target_progress'])} | {_fmt(im['target_progress'])} | {im['worst_size']} | "
                f"{_fmt(im['transfer_progress'])} | {_fmt(im['psnr_db'], 1)} | {_fmt(im['ssim'], 3)} | {_fmt(im['visibility']['ms_ssim'], 3)} | "
                f"{_fmt(im['visibility']['vif'], 3)} | {_fmt(im['perceptual_distance'], 3)} | {_fmt(im['seconds'], 0)} |"
                for im in self.images
            ),
        ]

    def _md_mimic(self, m: dict) -> list[str]:
        """The latent style-mimic proxy, with its partly cloaked portfolios where measured."""
        j = m["judge"]
        lines = [
            "",
            f"## Latent style-mimic proxy: {m['artist']}",
            "",
            (
                f"Judge: leave-one-out top-{j['top_k']} accuracy {_fmt(j['loo_accuracy'])} over {j['loo_works']} works "
                f"(chance {_fmt(j['loo_chance'])}). {len(m['content'])} content works of other artists; the victim is "
                f"in the top-{j['top_k']} of {_fmt(m['base_rate'])} of them unstyled (base rate)."
            ),
            "",
            (
                "| countermeasure | victim recognised (clean training) | (cloaked training) | shift clean | shift cloaked | protection "
                "| victim score clean | victim score cloaked | score drop |"
            ),
            "|---|---|---|---|---|---|---|---|---|",
            *(
                f"| {c} | {_fmt(v['recognised_clean'])} | {_fmt(v['recognised_cloaked'])} | {_fmt(v['shift_clean'])} | "
                f"{_fmt(v['shift_cloaked'])} | {_fmt(v['protection'])} | {_fmt(v['victim_score_clean'])} | "
                f"{_fmt(v['victim_score_cloaked'])} | {_fmt(v['score_drop'])} |"
                for c, v in m["countermeasures"].items()
            ),
            "",
            (
                f"Shift = share of renders whose top-{j['top_k']} excludes the victim; protection = shift (cloaked) − "
                f"shift (clean). Victim score = (p̄ − b̄) / (1 − b̄), p̄ the judge's mean probability that a render is the "
                f"victim's and b̄ = {_fmt(m['base_score'], 3)} the same for the unstyled content (base rate); score drop = "
                "clean − cloaked. A proxy: latent statistics only, no diffusion fine-tune."
            ),
        ]
        if "by_fraction" in m:
            names, share = list(m["countermeasures"]), m["portfolio"]["cloaked_share"]
            lines += [
                "",
                f"### Partly cloaked portfolios ({m['portfolio']['works']} works, {m['portfolio']['draws']} draws per share)",
                "",
                "| share cloaked | " + " | ".join(f"score drop, top-3 protection ({c})" for c in names) + " |",
                "|---|" + "---|" * len(names),
                *(
                    f"| {share[f]:.2f} | " + " | ".join(f"{_fmt(v[c]['score_drop'])}, {_fmt(v[c]['protection'])}" for c in names) + " |"
                    for f, v in m["by_fraction"].items()
                ),
            ]
        return lines

    def _md_robust(self, r: dict) -> list[str]:
        """The robust-encoder mimic: its training and what it learned."""
        st, entry = self.settings, self.summary["countermeasures"].get("robust_encoder", {})
        return [
            "",
            "## Robust-encoder mimic",
            "",
            (
                f"Encoder copies fine-tuned on {len(r['pairs'])} pairs the mimic cloaked itself at {r['pair_size']} px "
                f"({st.robust.steps} steps, lr {st.robust.lr:g}, {r['seconds']:.0f} s). Clean images' round trip through the "
                f"robust encoder and the original decoder: PSNR {_fmt(entry.get('clean_roundtrip_psnr_db'), 1)} dB against the original round trip."
            ),
            "",
            "| encoder | TP on its training pairs before | after |",
            "|---|---|---|",
            *(f"| {e['encoder']} | {_fmt(e['pair_tp_before'])} | {_fmt(e['pair_tp_after'])} |" for e in r["encoders"]),
        ]

    def plot(self, path: str | Path) -> Path:
        """Bar chart of mean target and transfer progress per countermeasure, written as PNG (needs the ``plot`` extra)."""
        plt = pyplot(path)

        rows, by_size = self.rows(), self.size_rows()
        xs = range(len(rows))
        sizes = list(self.summary["sizes"])
        bars = [*(f"TP at {k} px" for k in sizes), *([f"worst transfer ({', '.join(self.settings.transfer)})"] if self.settings.transfer else [])]
        width = 0.8 / len(bars)
        fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(rows) + 2), 4))
        for j, label in enumerate(bars):
            values = [r[1][sizes[j]] for r in by_size] if j < len(sizes) else [r[2] for r in rows]
            ax.bar([i - 0.4 + width * (j + 0.5) for i in xs], [v or 0 for v in values], width, label=label)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(list(xs), [r[0] for r in rows], rotation=40, ha="right")
        ax.set_ylabel("TP (0 = no effect)")
        ax.set_title(f"Protection audit: {self.summary['images']} image(s), target {self.settings.target_style}, worst size {self.summary['worst_size']} px")
        ax.legend()
        return save_figure(fig, path)


def _headline(s: dict) -> str:
    p = s["protection"]
    trip = f"after {p['countermeasure']}" if p["countermeasure"] != "none" else "no repost measured"
    return (
        f"**Protection: target progress {_fmt(p['target_progress'])} at {p['size']} px ({trip}; the worst mimic size after the repost trip), "
        f"style progress {_fmt(p['style_progress'])}. Plain target progress {_fmt(s['target_progress'])} at {s['worst_size']} px is the floor.**"
    )


def _visibility_line(v: dict) -> str:
    cells = [
        f"{name} {_fmt(v['mean'][k], digits)} / {_fmt(v['worst'][k], digits)}"
        for name, k, digits in (("PSNR dB", "psnr_db", 2), ("SSIM", "ssim", 3), ("MS-SSIM", "ms_ssim", 3), ("VIF", "vif", 3))
    ]
    return "Visibility (referee at full resolution; mean / worst image, higher is less visible): " + ", ".join(cells) + "."


def pyplot(path: str | Path):
    """matplotlib's pyplot on the file-only Agg backend, or a one-line error naming ``path`` and the fix."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ConfigError(f"{path}: plots need matplotlib; install it with: pip install 'stylecloak[plot]'") from exc

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> Path:
    """Lay out ``fig``, write it as PNG to ``path`` (creating its folder) and close it."""
    from matplotlib import pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
