"""Image files in and out: read (:mod:`.read`), write (:mod:`.write`), metadata (:mod:`.metadata`, XMP in :mod:`.xmp`),
paths (:mod:`.paths`), the one atomic writer (:mod:`.atomic`) and the output folder's journal (:mod:`.journal`)."""

from .atomic import atomic_file
from .journal import JOURNAL, Journal, file_hash, recorded_provenance
from .metadata import METADATA_MODES, OutputMetadata
from .paths import (
    IMAGE_EXTENSIONS,
    check_out_dir,
    iter_images,
    output_path,
    output_suffix,
)
from .read import (
    MAX_PIXELS,
    LoadedImage,
    frames_warning,
    load_image,
    probe_image,
    read_xmp,
)
from .write import save_image, save_png, to_pil
from .xmp import NS_STYLECLOAK, OPTOUTS, xmp_optout_packet, xmp_packet, xmp_values

__all__ = [
    "IMAGE_EXTENSIONS",
    "JOURNAL",
    "MAX_PIXELS",
    "METADATA_MODES",
    "NS_STYLECLOAK",
    "OPTOUTS",
    "Journal",
    "LoadedImage",
    "OutputMetadata",
    "atomic_file",
    "check_out_dir",
    "file_hash",
    "frames_warning",
    "iter_images",
    "load_image",
    "output_path",
    "output_suffix",
    "probe_image",
    "read_xmp",
    "recorded_provenance",
    "save_image",
    "save_png",
    "to_pil",
    "xmp_optout_packet",
    "xmp_packet",
    "xmp_values",
]
