"""Planning a batch: every file it will write, decided and checked before any work.

:func:`plan_batch` walks the inputs and mirrors them into the output folder, with the views (the preview)
mirrored under their own folder, ``OUT/previews/`` unless told otherwise. :func:`check_plan`, which the
web app uses for its own file names too, refuses every file that would land on an input, on another file
of the same batch, on a folder, or on an existing file that the output folder's journal does not record as
stylecloak's own (a rerun may replace its own outputs). An original found inside the output folder is
refused as well. A refused plan raises :class:`PlanError`, one line per problem, before anything is loaded
or written.

>>> plan = plan_batch(["art/"], "protected/", views=("preview",))
>>> [(t.input, t.output, t.views["preview"]) for t in plan.tasks]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import StylecloakError
from .io import Journal, check_out_dir, iter_images, output_path

PREVIEWS = "previews"
"""The views' folder inside the output folder, unless another is given."""


class PlanError(StylecloakError):
    """The batch would overwrite a file it must not, or has nothing to do; ``problems``: one line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Task:
    """One image to cloak: ``index`` in the run, the input file, the output path and its views' paths."""

    index: int
    input: Path
    output: Path
    digest: str | None = None
    """The input's sha256, as the journal records it (None: not journalled)."""
    views: dict[str, Path] = field(default_factory=dict)
    """Kind (e.g. ``preview``) → the PNG written for it."""

    def files(self) -> list[Path]:
        """Every file the task writes."""
        return [self.output, *self.views.values()]


@dataclass(frozen=True)
class Plan:
    """A checked batch: its tasks (in input order) and the output folder's journal."""

    tasks: tuple[Task, ...]
    journal: Journal


def view_paths(folder: Path, relative: Path, kinds: Sequence[str]) -> dict[str, Path]:
    """Where the views of the output at ``relative`` (inside the output folder) go: ``folder/relative.KIND.png``,
    named after the whole output name so that ``x.png`` and ``x.jpg`` keep apart."""
    return {kind: folder / relative.parent / f"{relative.name}.{kind}.png" for kind in kinds}


def plan_batch(inputs: Sequence[str | Path], out_dir: str | Path, *, views: Sequence[str] = (), view_dir: str | Path | None = None) -> Plan:
    """Plan protecting every image under ``inputs`` into ``out_dir`` (folders mirrored), with ``views`` mirrored
    under ``view_dir`` (default ``out_dir/previews``); raise :class:`PlanError` listing every problem.

    Protected copies that the journal records (from earlier runs) are never taken for inputs.
    """
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    views_at = Path(view_dir) if view_dir is not None else out_dir / PREVIEWS
    journal = Journal(out_dir)
    tasks: list[Task] = []
    problems: list[str] = []
    given = {Path(p) for p in inputs}
    for path, root in iter_images(inputs):
        if path not in given and journal.is_ours(path):
            continue  # a protected copy or view from an earlier run, found in a folder: not an original
        if _inside(path, journal.folder):
            problems.append(
                f"{path}: is an original inside the output folder {out_dir}, which must hold only protected copies; "
                "choose an output folder outside your originals"
            )
        output = output_path(path, out_dir, root)
        tasks.append(Task(len(tasks), path, output, views=view_paths(views_at, output.relative_to(out_dir), views)))
    if not tasks and not problems:
        names = ", ".join(str(p) for p in inputs) or "(none given)"
        problems.append(f"{names}: no images found; pass image files or folders holding PNG, JPEG, WebP, TIFF, BMP or GIF files")
    problems += refusals(tasks, journal)
    if problems:
        raise PlanError(problems)
    return Plan(tuple(tasks), journal)


def check_plan(tasks: Sequence[Task], journal: Journal | None = None) -> None:
    """Raise :class:`PlanError` when any of ``tasks``' files may not be written (see :func:`refusals`)."""
    if problems := refusals(tasks, journal):
        raise PlanError(problems)


def refusals(tasks: Sequence[Task], journal: Journal | None) -> list[str]:
    """One line for each file of ``tasks`` that would land on an input, on another file of the same tasks, on a
    folder, below a file, or on an existing file that ``journal`` does not record as stylecloak's own.

    Names are compared resolved and, for the batch's own files, regardless of case (as macOS and Windows do)."""
    originals = {t.input.resolve(): t.input for t in tasks}
    inodes = {ident: t.input for t in tasks if (ident := _inode(t.input))}
    taken: dict[str, Task] = {}
    problems = []
    for task in tasks:
        for dest in task.files():
            resolved = dest.resolve()
            original = originals.get(resolved) or ((inode := _inode(dest)) and inodes.get(inode))
            other = taken.setdefault(resolved.as_posix().casefold(), task)
            if original is not None:
                problems.append(f"{dest}: would overwrite the input image {original}; choose an output folder outside your originals")
            elif other is not task:
                problems.append(
                    f"{dest}: both {other.input} and {task.input} would be written here; rename one of them or protect them into separate output folders"
                )
            elif dest.is_dir():
                problems.append(f"{dest}: is a folder where a protected file should go; move it away or choose another output folder")
            elif blocker := next((p for p in dest.parents if p.exists() and not p.is_dir()), None):
                problems.append(f"{blocker}: is a file where an output folder should be; choose another output folder")
            elif (dest.exists() or dest.is_symlink()) and not (journal and journal.is_ours(dest)):
                problems.append(f"{dest}: already exists and was not written by stylecloak; move it away or choose another output folder")
    return problems


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder)


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino
