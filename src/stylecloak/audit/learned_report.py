"""The learned attacker's sections of the audit's Markdown report: its cleaner and its detector."""

from __future__ import annotations


def _ci(interval: list[float] | tuple[float, float]) -> str:
    return f"{interval[0]:.2f}–{interval[1]:.2f}"


def md_learned(record: dict, entry: dict) -> list[str]:
    """The cleaner: what it is, its training budget, and what cleaning costs clean images (``entry``: the summary's
    ``learned_cleaner`` countermeasure, at the worst size)."""
    preset = record["preset"]
    source = "loaded from the cache" if record.get("cached") else f"trained in {record['seconds']:.0f} s"
    return [
        "",
        "## Learned cleaner",
        "",
        (
            f"A residual U-Net of {record['parameters']:,} parameters trained to undo stylecloak's cloaks: {record['train_pairs']} pairs the "
            f"attacker cloaked itself ({len(record['works'])} works × {len(record['styles'])} target styles: {', '.join(record['styles'])}; "
            f"{preset['method']}, intensity {preset['intensity']}, quality {preset['quality']}, {record['pair_size']} px), "
            f"{record['steps']} steps of {record['batch']} patches of {record['patch']} px ({source})."
        ),
        "",
        (
            f"TP after cleaning both sides: {entry['target_progress']:.2f} (worst size); cleaning a clean image costs it "
            f"PSNR {entry['cleaned_clean_psnr_db']:.1f} dB against itself (the least damage over the sizes). A lower bound on an attacker who learns from "
            "stylecloak: a bigger network, more pairs and longer training are theirs to choose."
        ),
    ]


def md_detection(d: dict) -> list[str]:
    """The detector: AUC and TPR at 1 % FPR with their intervals, as saved and per mimic size."""
    return [
        "",
        "## Learned detector",
        "",
        (
            f"A small CNN trained on the same {d['train_pairs']} pairs to tell cloaked crops from clean ones, tested on "
            f"{d['test_pairs']} pairs it never saw (the audited ones and held-out ones of its own), {d['negatives']} clean crops "
            "as saved. 95 % intervals: bootstrap over pairs. AUC 0.5: cannot tell; 1: always tells."
        ),
        "",
        "| view | AUC | 95 % interval | TPR at 1 % FPR | 95 % interval | clean crops |",
        "|---|---|---|---|---|---|",
        *(
            f"| {view} | {v['auc']:.2f} | {_ci(v['auc_ci'])} | {v['tpr_at_1pct_fpr']:.2f} | {_ci(v['tpr_ci'])} | {v['negatives']} |"
            for view, v in [("as saved", d), *((f"{size} px", e) for size, e in d["by_size"].items())]
        ),
    ]
