"""What the page offers: the presets with names for what they look like, the styles, the methods, the limits."""

from __future__ import annotations

from ..cloak import METHODS
from ..config import INTENSITY, QUALITY
from ..io import METADATA_MODES, OPTOUTS
from ..styles import all_styles
from .records import AUTO

INTENSITY_LOOK = {
    "low": ("Barely visible", "the smallest change; weaker protection"),
    "default": ("Subtle", "a faint texture up close; balanced"),
    "high": ("Visible up close", "the strongest protection; a texture you can see up close"),
}
"""Each intensity's name for what it looks like, and what it trades (the preset's own name stays its value)."""
QUALITY_LOOK = {
    "fast": ("Quick", "not robust to re-compression"),
    "default": ("Standard", "robust to JPEG, resizing and noise"),
    "slow": ("Thorough", "most robust, at higher resolution; several minutes per image"),
}

METADATA_HELP = {
    "minimal": "keep the colour profile, creator and copyright; drop GPS position, comments, descriptions, camera and software (the default)",
    "strip": "keep only the colour profile",
    "keep": "keep all of the original's metadata",
}
OPTOUT_HELP = {
    "genai": "ask that it not be used to train generative AI (the default)",
    "ai": "ask that it not be used to train any AI or machine-learning model",
    "all": "ask that it not be data-mined at all, search-engine indexing included",
    "none": "write no AI-training wish",
}


def _preset(name: str, look: dict[str, tuple[str, str]]) -> dict[str, str]:
    label, help_text = look.get(name, (name, ""))
    return {"name": name, "label": f"{label} ({name})", "help": help_text}


def choices(*, max_upload_mb: float, max_pixels: int, max_files: int) -> dict:
    """The page's controls and limits (``GET /api/options``)."""
    return {
        "intensities": [_preset(k, INTENSITY_LOOK) for k in INTENSITY],
        "qualities": [_preset(k, QUALITY_LOOK) for k in QUALITY],
        "styles": [{"name": n, "help": s.description} for n, s in all_styles().items()],
        "methods": [{"name": k, "help": m.summary} for k, m in METHODS.items()],
        "metadata": [{"name": k, "help": METADATA_HELP[k]} for k in METADATA_MODES],
        "optouts": [{"name": k, "help": OPTOUT_HELP[k]} for k in OPTOUTS],
        "auto": AUTO,
        "limits": {"max_upload_mb": max_upload_mb, "max_pixels": max_pixels, "max_files": max_files},
    }
