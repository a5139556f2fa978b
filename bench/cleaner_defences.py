"""Defences against the learned cleaner, measured: which of the cloak's own choices make the attacker's cleaner
generalise worse, and what a cloak that also optimises against a frozen cleaner gains.

The paintings of bench/strength.py (one artist after another, brought to ``--size`` px long side) are cloaked
toward ``--style`` by the defender, then cleaned by the audit's learned attacker (``train_attacker``: it cloaks
other works of ``--paintings`` with stylecloak and trains a cleaner on the pairs; trained attackers are cached).
One row per condition; each changes one thing against ``matched``:

  matched             the attacker as the audit trains it: it knows the target style, the preset and the seeds
  matched_reseeded    the same attacker trained again with seed 1 instead of 0 (its cloaks' seeds, its network's
                      initialisation and patch draws): the spread between two trainings of one recipe
  unknown_style       the attacker does not know the target style (chosen per artist, kept private): other styles only
  other_seeds         the defender cloaks with a seed of its own (``--defender-seed``), not the attacker's
  other_eot           the attacker cloaks at another quality (``--attacker-quality``; ``fast`` has no EOT)
  other_design        the defender cloaks with a candidate design (``--design``); the attacker with the default one
  adaptive            the defender's cloak is also optimised against the matched cleaner C0, frozen: a second
                      encoder that sees the image through C0, then TAEF2 (the loss is averaged over the two)
  adaptive_retrained  the same cloaks, cleaned by a cleaner C1 the attacker trains on adaptive cloaks it makes the
                      same way (it has the code and C0): the gain that counts

Each row: target progress of the cloak (TP, no cleaner) and after cleaning both sides (the audit's
``learned_cleaner``, worst mimic size), its change from ``matched``, style progress (SP) likewise (the only
number that compares a design aiming elsewhere than Φ(Ω), such as ``latent_target``), the removal ratio (mean over paintings of
‖C(x′) − x‖ / ‖x′ − x‖: 1 leaves the cloak, 0 removes it), the PSNR of a cleaned clean image, the attacker's
training pairs, steps and seconds (as its record holds them: the training run that made a cached attacker), and
the defender's seconds per image.

    python bench/cleaner_defences.py --count 4 --size 512 --threads 1 --out OUT
    python bench/cleaner_defences.py --count 1 --size 128 --cleaner steps=5,detector_steps=2 --conditions matched,adaptive
"""

from __future__ import annotations

import argparse
import copy
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from common import SHARED, add_painting_options, add_shared_options, overrides, set_up, write_results
from strength import paintings, write_originals
from torch import nn

from stylecloak import Protector, ProtectSettings
from stylecloak.audit import LEARNED, AuditSettings, CleanerSettings
from stylecloak.audit.cleaner import Cleaner, clean
from stylecloak.audit.learned import LearnedAttacker, train_attacker
from stylecloak.audit.measure import Models, audit_loaded, load_models
from stylecloak.audit.report import summary
from stylecloak.audit.robust_encoder import training_works
from stylecloak.backbones import Backbone
from stylecloak.io import load_image

CONDITIONS: dict[str, tuple[str, str]] = {
    "matched": ("default", "matched"),
    "matched_reseeded": ("default", "reseeded"),
    "unknown_style": ("default", "unknown_style"),
    "other_seeds": ("other_seed", "matched"),
    "other_eot": ("default", "other_eot"),
    "other_design": ("other_design", "matched"),
    "adaptive": ("adaptive", "matched"),
    "adaptive_retrained": ("adaptive", "adaptive"),
}
"""Each condition's (defender, attacker)."""


def behind(cleaner: Cleaner, encoder: Backbone) -> Backbone:
    """``encoder`` seeing images through a frozen copy of ``cleaner`` (C, then Φ): what a cloak adapts to."""
    return Backbone(f"{encoder.name} behind a cleaner", nn.Sequential(copy.deepcopy(cleaner), encoder.encoder), None, encoder.factor)


@dataclass
class Run:
    """What the conditions share: the options, the audit's models and settings, the audited originals, the
    attacker's works, and each defender's cloaks and attacker as first made."""

    args: argparse.Namespace
    out: Path
    settings: AuditSettings
    models: Models
    originals: list[Path]
    works: list
    cloaks: dict[str, tuple[list[Path], float]] = field(default_factory=dict)
    """Defender → its cloaked files and seconds per image."""
    attackers: dict[str, LearnedAttacker] = field(default_factory=dict)

    def cleaner_settings(self, attacker: str) -> CleanerSettings:
        """The attacker's training settings: the audit's (the defender's preset), with the overrides of ``--cleaner``."""
        base = replace(CleanerSettings(intensity=self.args.intensity, quality=self.args.quality), **_cleaner_overrides(self.args))
        changes = {"reseeded": {"seed": base.seed + 1}, "unknown_style": {"knows_target": False}, "other_eot": {"quality": self.args.attacker_quality}}
        return replace(base, **changes.get(attacker, {}))

    def attacker(self, name: str) -> LearnedAttacker:
        """The attacker ``name`` (trained, or loaded from the cache); ``adaptive`` cloaks against the matched one's cleaner."""
        if name not in self.attackers:
            extra = self.adapted_to(name)
            settings = replace(self.settings, cleaner=self.cleaner_settings(name))
            print(f"attacker {name}: {'training' if not extra else 'training on adaptive cloaks'} (or loading from the cache)", flush=True)
            self.attackers[name] = train_attacker(
                self.works, settings, self.models.attacked, weights_dir=self.args.weights_dir, device=self.args.device, progress=_told, extra_backbones=extra
            )
            r = self.attackers[name].record
            print(f"attacker {name}: styles {r['styles']}, {r['train_pairs']} pairs, {r['steps']} steps, {r['seconds']} s, cached {r['cached']}", flush=True)
        return self.attackers[name]

    def defender(self, name: str) -> Protector:
        a = self.args
        preset = ProtectSettings(intensity=a.intensity, quality=a.quality, target_style=a.style)
        if name == "other_seed":
            preset = replace(preset, seed=a.defender_seed)
        if name == "other_design":
            preset = replace(preset, overrides=overrides(a.design))
        return Protector(preset, weights_dir=a.weights_dir, device=a.device, extra_backbones=self.adapted_to(name))

    def adapted_to(self, name: str) -> list[Backbone]:
        """The encoders built in code that ``name``'s cloaks are also optimised against: for ``adaptive``, the renderer
        behind the matched attacker's cleaner; none otherwise."""
        return [behind(self.attacker("matched").cleaner, self.models.renderer)] if name == "adaptive" else []

    def cloaked(self, name: str) -> tuple[list[Path], float]:
        """Defender ``name``'s cloaks of the originals (PNG files, as the audit reads them) and its seconds per image."""
        if name not in self.cloaks:
            protector, folder, seconds = self.defender(name), self.out / name, []
            folder.mkdir(parents=True, exist_ok=True)
            for f in self.originals:
                start = time.perf_counter()
                result = protector.protect(f)
                seconds.append(time.perf_counter() - start)
                result.save(folder / f.name)
                print(f"defender {name}: {f.name} TP {result.target_progress:.3f}, {seconds[-1]:.0f} s", flush=True)
            self.cloaks[name] = [folder / f.name for f in self.originals], sum(seconds) / len(seconds)
        return self.cloaks[name]


def measure(run: Run, condition: str) -> dict:
    """One condition's row: the defender's cloaks audited with the attacker's cleaner (the audit's own measurement)."""
    defender, attacker_name = CONDITIONS[condition]
    files, seconds = run.cloaked(defender)
    attacker = run.attacker(attacker_name)
    run.models.cleaner = attacker.cleaner
    records, ratios = [], []
    for i, (x, xp) in enumerate(zip(run.originals, files)):
        record, _, (rgb, rgb_cloaked) = audit_loaded(run.models, run.settings, x, xp, run.settings.seed + i)
        records.append(record)
        ratios.append(float((clean(attacker.cleaner, rgb_cloaked) - rgb).norm() / (rgb_cloaked - rgb).norm()))
    s = summary(records, run.settings.countermeasures)
    cleaned, r = s["countermeasures"][LEARNED], attacker.record
    per_painting = {Path(rec["original"]).name: _painting(rec, q) for rec, q in zip(records, ratios)}
    return {
        "condition": condition,
        "defender": defender,
        "attacker": attacker_name,
        "tp": s["target_progress"],
        "tp_cleaned": cleaned["target_progress"],
        "sp": s["style_progress"],
        "sp_cleaned": cleaned["style_progress"],
        "removal": round(sum(ratios) / len(ratios), 4),
        "cleaned_clean_psnr_db": cleaned["cleaned_clean_psnr_db"],
        "psnr_db": s["psnr_db"],
        "train_pairs": r["train_pairs"],
        "steps": r["steps"],
        "attacker_seconds": r["seconds"],
        "attacker_cached": r["cached"],
        "attacker_styles": r["styles"],
        "attacker_preset": r["preset"],
        "defender_seconds_per_image": round(seconds, 1),
        "per_painting": per_painting,
    }


def _painting(record: dict, removal: float) -> dict:
    """One painting's TP and SP before and after the cleaner, and its removal ratio."""
    cleaned = record["countermeasures"][LEARNED]
    progress = {
        "tp": record["target_progress"],
        "tp_cleaned": cleaned["target_progress"],
        "sp": record["style_progress"],
        "sp_cleaned": cleaned["style_progress"],
    }
    return progress | {"removal": round(removal, 4)}


def _cleaner_overrides(args: argparse.Namespace) -> dict:
    return overrides(args.cleaner) if args.cleaner else {}


def _told(label: str, done: int, total: int) -> None:
    """Training progress, now and then."""
    if done == total or done % 100 == 0 or "cloaking" in label:
        print(f"  {label}: {done}/{total}", flush=True)


def set_up_run(args: argparse.Namespace) -> Run:
    """The originals (as bench/strength.py makes them), the audit's models and settings, and the attacker's works."""
    out = set_up(args, "stylecloak-cleaner-defences-")
    folder = write_originals(out / "originals", paintings(args.paintings, args.count), args.size)
    originals = sorted(folder.glob("*.png"))
    settings = AuditSettings(target_style=args.style, countermeasures=(LEARNED,))
    models = load_models(settings, args.weights_dir, None, torch.device(args.device))
    cleaner = _cleaner_overrides(args)
    count = cleaner.get("works", CleanerSettings.works) + cleaner.get("held_out", CleanerSettings.held_out)
    works = [load_image(p) for p in training_works(args.paintings, [load_image(o) for o in originals], "", count)]  # as the audit chooses them
    return Run(args, out, settings, models, originals, works)


def options() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_painting_options(ap, 4, 512, "Long side the paintings are brought to (px).")
    ap.add_argument("--conditions", default=",".join(CONDITIONS), help="Comma-separated names from: " + ", ".join(CONDITIONS))
    ap.add_argument("--defender-seed", type=int, default=1009, help="other_seeds: the defender's seed (the attacker's are 0 and 1).")
    ap.add_argument("--attacker-quality", default="fast", help="other_eot: the quality the attacker cloaks with.")
    ap.add_argument("--design", default="latent_target=true", help="other_design: the defender's CloakSettings overrides (JSON values).")
    ap.add_argument("--cleaner", metavar="FIELD=VALUE,...", help="CleanerSettings overrides for every attacker (JSON values), e.g. steps=5 for a trial.")
    ap.add_argument("--device", default="cpu")
    add_shared_options(ap)
    return ap


HEADER = (
    "condition",
    "TP",
    "TP after cleaner",
    "change",
    "SP",
    "SP after cleaner",
    "removal",
    "cleaned clean PSNR",
    "pairs",
    "steps",
    "attacker s",
    "cloak s/image",
)


def line(row: dict, reference: float | None) -> str:
    """A row of the printed table; the change is TP after the cleaner minus ``reference`` (matched's)."""
    change = "–" if reference is None else f"{row['tp_cleaned'] - reference:+.3f}"
    cells = [row["condition"], f"{row['tp']:.3f}", f"{row['tp_cleaned']:.3f}", change, f"{row['sp']:.3f}", f"{row['sp_cleaned']:.3f}", f"{row['removal']:.3f}"]
    cells += [
        f"{row['cleaned_clean_psnr_db']:.1f}",
        str(row["train_pairs"]),
        str(row["steps"]),
        f"{row['attacker_seconds']:.0f}",
        f"{row['defender_seconds_per_image']:.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


def _shown(path: Path | None) -> str | None:
    """A folder as the command named it, or relative to the shared data folder's parent (no machine's own paths)."""
    if path is None or not path.is_absolute() or not path.is_relative_to(SHARED.parent):
        return None if path is None else str(path)
    return str(path.relative_to(SHARED.parent))


def main() -> None:
    args = options().parse_args()
    unknown = [c for c in args.conditions.split(",") if c not in CONDITIONS]
    if unknown:
        raise SystemExit(f"--conditions: unknown {unknown[0]!r}; choose from {', '.join(CONDITIONS)}")
    start = time.perf_counter()
    run = set_up_run(args)
    rows: list[dict] = []
    for condition in args.conditions.split(","):
        rows.append(measure(run, condition))
        print(line(rows[-1], None), flush=True)
    reference = next((r["tp_cleaned"] for r in rows if r["condition"] == "matched"), None)
    for row in rows:
        row["change"] = None if reference is None else round(row["tp_cleaned"] - reference, 4)
    print("| " + " | ".join(HEADER) + " |\n|" + "---|" * len(HEADER))
    print("\n".join(line(r, reference) for r in rows), flush=True)
    works = [str(Path(w.path).relative_to(args.paintings)) for w in run.works]
    settings = vars(args) | {k: _shown(getattr(args, k)) for k in ("out", "paintings", "weights_dir")}
    settings |= {"paintings_used": [p.name for p in run.originals], "attacker_works": works}
    write_results(run.out / "cleaner_defences.json", "cleaner_defences", rows, settings=settings, wall_s=round(time.perf_counter() - start))


if __name__ == "__main__":
    main()
