"""How `stylecloak protect` fares when several stylecloak processes share the cores: OpenMP's wait policy.

After one warm-up run, each case runs N copies of the same command at once (a 256 px sample painting at ``--quality fast``, in its
own output folder) and records each copy's wall clock. The policy is passed as ``OMP_WAIT_POLICY``:
``PASSIVE`` is what the CLI sets when the variable is unset, ``ACTIVE`` is OpenMP's busy-waiting (what the
CLI did before). Outputs are compared by bytes: the policy must not change them.

    python bench/concurrency.py --copies 1 2 --repeat 1
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import write_results

POLICIES = ("PASSIVE", "ACTIVE")


def run_at_once(copies: int, policy: str, image: Path, work: Path, quality: str) -> list[dict]:
    """Start ``copies`` protect commands together; their wall seconds and the output's sha256."""
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    started, procs = time.perf_counter(), []
    for i in range(copies):
        out = work / f"{policy}-{copies}-{i}"
        cmd = [sys.executable, "-m", "stylecloak.cli", "-q", "protect", str(image), "--out", str(out), "--style", "woodcut", "--quality", quality]
        procs.append((out, subprocess.Popen(cmd, env=env)))
    rows = []
    for out, proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"protect failed ({policy}, {copies} at once): exit {proc.returncode}")
        seconds = time.perf_counter() - started
        digest = hashlib.sha256((out / image.name).read_bytes()).hexdigest()[:16]
        rows.append({"policy": policy, "at_once": copies, "seconds": round(seconds, 1), "output_sha256": digest})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, nargs="+", default=[1, 2], help="How many protects run at once, per case.")
    ap.add_argument("--size", type=int, default=256, help="Long side of the sample painting (px).")
    ap.add_argument("--quality", default="fast")
    ap.add_argument("--json", type=Path, default=Path("bench/results/concurrency.json"))
    args = ap.parse_args()
    from stylecloak.sample import paint_sample

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        image = work / "sample.png"
        paint_sample(args.size).save(image)
        run_at_once(1, POLICIES[0], image, work / "warm-up", args.quality)  # libraries into the page cache: no cold first row
        rows = [row for policy in POLICIES for copies in args.copies for row in run_at_once(copies, policy, image, work, args.quality)]
    for row in rows:
        print(f"{row['policy']:8s} {row['at_once']} at once: {row['seconds']:6.1f} s  {row['output_sha256']}", flush=True)
    write_results(args.json, "concurrency", rows, size=args.size, quality=args.quality)


if __name__ == "__main__":
    main()
