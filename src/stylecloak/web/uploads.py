"""Stream a multipart upload straight into a job folder, enforcing the limits while it arrives.

Each file part is written to ``folder/in-N`` as its bytes come in, each chunk's room reserved first
(``reserve``, which raises to refuse), and refused (413) as soon as it passes the per-image limit, so a
request never costs more disk than the limits allow; the form's text fields are small and few. Nothing
here decodes an image.
"""

from __future__ import annotations

import errno
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

MB = 1024 * 1024
T = TypeVar("T")


class UploadError(Exception):
    """A refused upload: an HTTP status and a message for the user."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Upload:
    """What a request carried: text fields, and (display name, stored name) per file."""

    fields: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, str]] = field(default_factory=list)


def safe_name(name: str | None) -> str:
    """A client-supplied file name reduced to a harmless basename (for display and Content-Disposition only)."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = "".join(c for c in unicodedata.normalize("NFC", base) if unicodedata.category(c)[0] != "C")
    base = base.strip().lstrip(".")[-120:]
    return base or "image"


def size_text(n: float) -> str:
    """A byte count in words, to a tenth of a MB or KB (3,145,716 B -> "3.0 MB", not "2 MB")."""
    return f"{n / MB:.1f} MB" if n >= MB else f"{n / 1024:.1f} KB"


@dataclass(frozen=True)
class Limits:
    """What one upload may hold (see :func:`receive`)."""

    file_field: str
    max_file_bytes: int
    max_files: int
    max_fields: int = 10
    max_field_bytes: int = 1024


class _Parts:
    """The multipart parser's callbacks: small text fields kept in memory, file parts streamed into ``folder``."""

    def __init__(self, folder: Path, upload: Upload, limits: Limits, reserve: Callable[[int], None], display: Callable[[str], str]):
        self.folder, self.upload, self.limits, self.reserve, self.display = folder, upload, limits, reserve, display
        self.part: dict = {}
        self.sink: BinaryIO | None = None

    def callbacks(self) -> dict[str, Callable]:
        names = ("on_part_begin", "on_header_field", "on_header_value", "on_header_end", "on_headers_finished", "on_part_data", "on_part_end")
        return {name: getattr(self, name) for name in names}

    def on_part_begin(self) -> None:
        self.part = {"headers": {}, "header": b"", "value": b"", "data": bytearray(), "size": 0}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.part["header"] += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.part["value"] += data[start:end]

    def on_header_end(self) -> None:
        part = self.part
        part["headers"][part["header"].lower()] = part["value"]
        part["header"], part["value"] = b"", b""

    def on_headers_finished(self) -> None:
        part, upload, limits = self.part, self.upload, self.limits
        _, options = parse_options_header(part["headers"].get(b"content-disposition", b""))
        part["name"] = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in options:
            if len(upload.fields) >= limits.max_fields:
                raise UploadError(400, "Too many form fields.")
            return
        if part["name"] != limits.file_field:
            raise UploadError(400, f"Unexpected file field {part['name']!r}; send images as {limits.file_field!r}.")
        if len(upload.files) >= limits.max_files:
            raise UploadError(413, f"At most {limits.max_files} images per job; send the others as another job.")
        part["display"] = self.display(options[b"filename"].decode("utf-8", "replace"))
        stored = f"in-{len(upload.files)}"
        upload.files.append((part["display"], stored))
        self.sink = _write_guard(part["display"], lambda: open(self.folder / stored, "xb"))  # noqa: SIM115 - closed by on_part_end

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part, sink, chunk = self.part, self.sink, data[start:end]
        part["size"] += len(chunk)
        if sink is None:
            if part["size"] > self.limits.max_field_bytes:
                raise UploadError(400, f"The form field {part['name']!r} is too long.")
            part["data"] += chunk
        elif part["size"] > self.limits.max_file_bytes:
            raise UploadError(413, f"{part['display']} is larger than {size_text(self.limits.max_file_bytes)}, the limit per image.")
        else:
            self.reserve(len(chunk))
            _write_guard(part["display"], lambda: sink.write(chunk))

    def on_part_end(self) -> None:
        if self.sink is not None:
            _write_guard(self.part["display"], self.sink.close)
            self.sink = None
        else:
            self.upload.fields[self.part["name"]] = self.part["data"].decode("utf-8", "replace")

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()


async def receive(
    request: Request, folder: Path, limits: Limits, *, reserve: Callable[[int], None] = lambda n: None, display: Callable[[str], str] = safe_name
) -> Upload:
    """Read ``request``'s multipart body into ``folder`` within ``limits``; raise :class:`UploadError` on any limit or format problem.

    ``reserve(n)`` is called before ``n`` more bytes are written and raises to refuse them; ``display``
    turns a client file name into the name shown in messages. The caller removes ``folder`` when this raises.
    """
    kind, params = parse_options_header(request.headers.get("content-type"))
    upload = Upload()
    if kind != b"multipart/form-data":
        return upload  # no files: the caller says what is missing
    if b"boundary" not in params:
        raise UploadError(400, "The upload is not valid multipart/form-data (no boundary).")
    parts = _Parts(folder, upload, limits, reserve, display)
    parser = MultipartParser(params[b"boundary"], parts.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise UploadError(400, f"The upload is not valid multipart/form-data ({str(exc).lower() or 'cannot be parsed'}).") from None
    finally:
        parts.close()
    return upload


def _write_guard(name: str, action: Callable[[], T]) -> T:
    """Run a file operation; a full disk becomes a 507 naming the user's file."""
    try:
        return action()
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise UploadError(507, f"{name}: the server's disk is full; free some space (or remove finished jobs) and try again.") from exc
        raise UploadError(500, f"{name}: the server could not store the upload ({exc.strerror or exc}).") from exc
