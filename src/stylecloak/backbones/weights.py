"""Find, download and verify weight files: explicit folder -> bundled with the package -> user cache -> download.

Upstream: github.com/madebyollin/taesd at a pinned commit (MIT licence, ``bundled/LICENSE-taesd.txt``). The
package ships the files the default protection and the audit need (:data:`BUNDLED`), so a first run works
offline; the other encoders download on first use. Every file is verified before use: by sha256 where it is
pinned, otherwise by its git blob id at that commit.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path

from platformdirs import user_cache_dir

from ..errors import WeightsError
from ..io.atomic import atomic_file
from ..progress import DownloadProgress

UPSTREAM_COMMIT = "5cccb12dc72074a4be35680c3b108548a7c69978"
DEFAULT_BASE_URL = f"https://raw.githubusercontent.com/madebyollin/taesd/{UPSTREAM_COMMIT}"

SHA256: dict[str, str] = {
    "taef2_encoder.pth": "10a4e1021e89d7551eaf161352da8dbd0b1aa83872ae28b150c1df1ce2f147b6",
    "taef2_decoder.pth": "0a44a31e1ae59eb9dbf9359d24942fd3ef5928162c1800d97a28c61d51be0ab5",
    "taesana_encoder.pth": "858f4e4cc293f88efaf58107f4154b960b9ced0cb5d9c050dad11f926b618c1f",
}

GIT_BLOB: dict[str, str] = {
    "taesd_encoder.pth": "65f85afc58480128926e52086fbf0fdc61c2c9b5",
    "taesd_decoder.pth": "5915a429fc08eba4adf62bf74f96705b8b0d5c1f",
    "taesdxl_encoder.pth": "56dfb7ed13ac774bc28dcd981f072f26eb7c5e99",
    "taesdxl_decoder.pth": "477bc7e9604f418029508e72ac8719bb9d048291",
    "taesd3_encoder.pth": "9678667c0e3e4b648a36daaa8094b1732ae4fb67",
    "taesd3_decoder.pth": "7943be72a9151d0b330c5d8a4fbb885d889b60a1",
    "taef1_encoder.pth": "d8ee13fa3a1ff9a92643669d718e4b0827daafa5",
    "taef1_decoder.pth": "b772c9c4e6d3b79d06b277be59296389591783d3",
    "taef2_encoder.pth": "8d738aba02f7ba9d156712489322dc5c43d5db1c",
    "taef2_decoder.pth": "f4da1ec48cb805b5ee8deb22cfad03f48fe52f64",
    "taesana_encoder.pth": "7e6354ea9e818c2fe56d3e80070a9e5e8a37be2f",
    "taesana_decoder.pth": "aa645f9d0a0a1c6b5ed1fc5b446e764af4843a9f",
}

BUNDLED_DIR = Path(__file__).with_name("bundled")
"""Weight files shipped inside the package (TAEF2 encoder and decoder, TAESana encoder)."""

log = logging.getLogger(__name__)

download_progress: ContextVar[Callable[[str], DownloadProgress] | None] = ContextVar("download_progress", default=None)
"""Where downloads report when :func:`resolve` gets no ``progress``: a factory taking the file name
(the CLI sets one that draws a rich progress bar). The library itself never prints."""


def cache_dir() -> Path:
    """The user cache folder for downloaded weights."""
    return Path(user_cache_dir("stylecloak")) / "weights"


def offline() -> bool:
    """True when downloads are disabled (STYLECLOAK_OFFLINE=1 or HF_HUB_OFFLINE=1)."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("STYLECLOAK_OFFLINE", "HF_HUB_OFFLINE"))


def verify(path: Path, name: str | None = None) -> bool:
    """Whether ``path`` has the pinned sha256 (or git blob id) of weight file ``name`` (default: its own name)."""
    data = path.read_bytes()
    name = name or path.name
    if name in SHA256:
        return hashlib.sha256(data).hexdigest() == SHA256[name]
    if name in GIT_BLOB:
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == GIT_BLOB[name]
    return True


def resolve(name: str, weights_dir: str | Path | None = None, progress: DownloadProgress | None = None) -> Path:
    """Path to a verified copy of weight file ``name``.

    Order: ``weights_dir`` (or $STYLECLOAK_WEIGHTS) -> the package's bundled copy -> user cache ->
    download into the cache. A user-provided or bundled file that fails verification is an error
    (it is not touched); a corrupt cache file is deleted and downloaded again.
    """
    found = find_local(name, weights_dir)
    if found is not None:
        return found
    if offline():
        raise WeightsError(_missing(name, weights_dir or os.environ.get("STYLECLOAK_WEIGHTS"), "downloads are disabled (offline mode)"))
    cached = cache_dir() / name
    _download(name, cached, weights_dir or os.environ.get("STYLECLOAK_WEIGHTS"), progress)
    return cached


def find_local(name: str, weights_dir: str | Path | None = None) -> Path | None:
    """Path to a verified copy of weight file ``name`` on this machine (:func:`resolve`'s order without the
    download), or None; a corrupt cache file is deleted."""
    folder = weights_dir or os.environ.get("STYLECLOAK_WEIGHTS")
    if folder:
        path = Path(folder).expanduser() / name
        if path.is_file():
            if not verify(path):
                raise WeightsError(f"{path}: checksum mismatch; replace it with {name} from madebyollin/taesd@{UPSTREAM_COMMIT[:7]}")
            return path
    bundled = BUNDLED_DIR / name
    if bundled.is_file():
        if not verify(bundled):
            raise WeightsError(f"{bundled}: the bundled weight file is damaged (checksum mismatch); reinstall stylecloak")
        return bundled
    cached = cache_dir() / name
    if cached.is_file():
        if verify(cached):
            return cached
        cached.unlink()
    return None


def _missing(name: str, folder: str | Path | None, why: str) -> str:
    """One line naming the file, where it comes from and where to put it."""
    where = f"{folder} (the folder STYLECLOAK_WEIGHTS or --weights-dir names)" if folder else "a folder named by STYLECLOAK_WEIGHTS (or --weights-dir)"
    return f"weight file {name} not found and {why}; download {DEFAULT_BASE_URL}/{name} where there is network and put it into {where} or {cache_dir()}"


def _download(name: str, dest: Path, folder: str | Path | None, progress: DownloadProgress | None) -> None:
    url = f"{os.environ.get('STYLECLOAK_WEIGHTS_URL', DEFAULT_BASE_URL).rstrip('/')}/{name}"
    try:
        with atomic_file(dest, suffix=".part") as out, urllib.request.urlopen(url, timeout=60) as resp:
            total = int(resp.headers.get("Content-Length") or 0)
            factory = download_progress.get()
            report = progress or (factory(name) if factory else None)
            log.info("downloading %s (%s bytes) from %s", name, total or "unknown", url)
            done = 0
            while chunk := resp.read(1 << 16):
                out.write(chunk)
                done += len(chunk)
                if report:
                    report(done, total)
            if report and not total:
                report(done, done)  # the size is known now: the download is complete
            out.flush()
            if not verify(Path(out.name), name):
                raise WeightsError(f"{url}: downloaded file failed its checksum; try again later or put {name} into {cache_dir()}")
    except (urllib.error.URLError, OSError) as exc:
        raise WeightsError(_missing(name, folder, f"downloading {url} failed ({' '.join(str(exc).split())})")) from exc
