"""A finished image's numbers for people: the protection gauge, two plain lines, and the technical details behind a
disclosure on the page."""

from __future__ import annotations

from ..config import DEFAULT_METHOD
from ..verdict import AFTER_REUPLOAD, protection_verdict

CHECK_NAMES = {"jpeg75": "JPEG at quality 75", "downscale_half": "halving the size"}
"""Re-upload checks in words; a repost trip is named by its size (``repost_1080``: "a repost at 1080 px")."""
ADVICE = {"weak": " Try a higher intensity, or the slow quality.", "moderate": "", "strong": ""}


def check_name(name: str) -> str:
    if name.startswith("repost_"):
        return f"a repost at {name.removeprefix('repost_')} px"
    return CHECK_NAMES.get(name, name)


def gauge(summary: dict) -> dict:
    """The page's gauge: ``word`` (strong, moderate or weak), ``percent`` and a sentence that says what they mean."""
    word, percent = protection_verdict(summary)
    basis = "what is left after a re-upload" if summary.get(AFTER_REUPLOAD) else "the protected image as saved (the re-upload check did not run)"
    text = f"Protection {word}: {percent}\u00a0% of the way to the target style, judged by {basis}.{ADVICE[word]}"
    return {"word": word, "percent": percent, "text": text}


def visible_change(psnr: float | None) -> str:
    """How visible the change is, in words (from the PSNR, which the details give)."""
    if psnr is None:
        return "None: the image is unchanged."
    levels = ((40, "Practically invisible."), (35, "Very small; hard to see."), (30, "Small; visible up close."), (25, "Noticeable."))
    return next((words for limit, words in levels if psnr >= limit), "Strong.")


def plain(summary: dict) -> list[dict[str, str]]:
    """The lines every artist reads."""
    return [
        {"label": "Visible change", "text": visible_change(summary["psnr_db"])},
        {"label": "Time", "text": f"{_seconds(summary['seconds'])} for {summary['width']}×{summary['height']} px."},
    ]


def _seconds(seconds: float) -> str:
    return "under a second" if seconds < 1 else f"{seconds:.0f}\u00a0s" if seconds < 90 else f"{seconds / 60:.0f}\u00a0min"


def details(summary: dict, intensity: str) -> list[dict[str, str]]:
    """The technical numbers, for whoever opens "details"."""
    style, tp = summary["target_style"], summary["target_progress"]
    method = f" (method {summary['method']})" if summary.get("method", DEFAULT_METHOD) != DEFAULT_METHOD else ""
    distance, budget = summary["perceptual_distance"], summary["budget"]  # in the units of the distance the run used
    sizes = ", ".join(f"{k} px {max(v, 0) * 100:.0f}\u00a0%" for k, v in summary["target_progress_by_size"].items())
    lines = [
        {
            "label": "Target progress (TP)",
            "text": f"At the training size where the cloak is weakest ({summary['worst_size']} px), the model sees this image "
            f"{max(tp, 0) * 100:.0f}\u00a0% of the way toward '{style}'{method}. At each size: {sizes}.",
        }
    ]
    after = summary.get(AFTER_REUPLOAD) or {}
    if after:
        left = ", ".join(f"after {check_name(k)} {max(v, 0) * 100:.0f}\u00a0%" for k, v in after.items())
        lines.append({"label": "After a re-upload", "text": f"TP left, worst training size: {left}."})
    psnr = summary["psnr_db"]
    lines += [{"label": "Note", "text": warning} for warning in summary.get("warnings") or []]
    lines += [
        {"label": "PSNR", "text": "unchanged" if psnr is None else f"{psnr:.1f} dB (above 35 dB is hard to see)."},
        {
            "label": "Perceptual distance",
            "text": f"{distance:.2f}, {'within' if distance <= budget * 1.1 else 'above'} the '{intensity}' intensity's budget of {budget:.2f}.",
        },
    ]
    return lines
