"""Target styles: the painters (:mod:`.painters`), the library by name (:mod:`.library`), Ω(x, T) by latent
statistics (:mod:`.transfer`), the artist profile (:mod:`.profile`) and Glaze's selection (:mod:`.selection`)."""

from .library import (
    Style,
    all_styles,
    builtin_styles,
    folder_style,
    get_style,
    parse_style_dirs,
)
from .profile import (
    ArtistProfile,
    default_profile_path,
    find_profile,
    load_profile,
    profile_key,
    save_profile,
)
from .selection import choose_target, select_target, style_distances
from .transfer import LatentStats, adain, image_stats, style_stats, style_transfer

__all__ = [
    "ArtistProfile",
    "LatentStats",
    "Style",
    "adain",
    "all_styles",
    "builtin_styles",
    "choose_target",
    "default_profile_path",
    "find_profile",
    "folder_style",
    "get_style",
    "image_stats",
    "load_profile",
    "parse_style_dirs",
    "profile_key",
    "save_profile",
    "select_target",
    "style_distances",
    "style_stats",
    "style_transfer",
]
