"""Image files in and out: read (:mod:`.read`), write (:mod:`.write`), metadata (:mod:`.metadata`),
paths (:mod:`.paths`) and the one atomic writer (:mod:`.atomic`)."""

from .atomic import atomic_file
from .metadata import NS_STYLECLOAK, xmp_optout_packet, xmp_packet, xmp_values
from .paths import (
    IMAGE_EXTENSIONS,
    check_output,
    iter_images,
    output_path,
    output_suffix,
)
from .read import LoadedImage, frames_warning, load_image, probe_image, read_xmp
from .write import save_image, save_png, to_pil

__all__ = [
    "IMAGE_EXTENSIONS",
    "NS_STYLECLOAK",
    "LoadedImage",
    "atomic_file",
    "check_output",
    "frames_warning",
    "iter_images",
    "load_image",
    "output_path",
    "output_suffix",
    "probe_image",
    "read_xmp",
    "save_image",
    "save_png",
    "to_pil",
    "xmp_optout_packet",
    "xmp_packet",
    "xmp_values",
]
