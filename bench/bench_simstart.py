"""What a user waits for on the embedded simulator: one ``--sim`` command, whole process, second of the day onward.

Run: ``./dev bench simstart`` (``--quick``: one run of the Kite command, for CI); ``--against REV`` also runs the
commands with the code of git revision ``REV`` (its ``src`` first on ``PYTHONPATH``).

Each side runs the same command in its own fresh home (sessions, instrument caches and simulated world its own),
warmed by one run, then the sides' runs interleave so machine load hits all alike:

- **kitekit**: this code, the simulator's day builds kept (``KITEKIT_SIM_CACHE`` in the home);
- **baseline**: this code with ``KITEKIT_SIM_CACHE=off``, which builds the day's universe and dumps in every
  process, as every process did before they were kept;
- with ``--against REV``: REV's code, as it stood.

The commands print the same quote table on every side.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import BENCH_NOW, Figures, Spread, whole_processes

COMMANDS = {
    "kite": ["--sim", "quote", "NSE:INFY"],
    "upstox": ["--sim", "--broker", "upstox", "quote", "NSE:INFY"],
}


def _side(home: Path, args: list[str], kept: bool, src: str | None = None) -> list[str]:
    """Return the argv of one side: ``env`` setting its own home (and code), then the kitekit command."""
    home.mkdir(parents=True, exist_ok=True)
    env = [f"HOME={home}", f"KITE_SIM_AT={BENCH_NOW.isoformat()}", f"COLUMNS={120}"]
    env += [f"KITEKIT_{d}_DIR={home / d.lower()}" for d in ("DATA", "CONFIG", "CACHE")]
    env.append(f"KITEKIT_SIM_CACHE={home / 'sim-builds' if kept else 'off'}")
    if src is not None:
        env.append(f"PYTHONPATH={src}")
    return ["env", *env, sys.executable, "-m", "kitekit.cli", *args]


def _unpack(rev: str, into: Path) -> str:
    """Unpack ``rev``'s ``src`` into ``into``; return the folder to put first on ``PYTHONPATH``."""
    root = Path(__file__).resolve().parent.parent
    unpacked = subprocess.run(["git", "-C", str(root), "archive", rev, "src"], capture_output=True, check=False)
    if unpacked.returncode:
        raise RuntimeError(f"git archive {rev}: {unpacked.stderr.decode().strip()}")
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=unpacked.stdout, check=True)
    return str(into / "src")


def main(argv: list[str]) -> Figures:
    """Time each ``--sim`` command on each side; print medians, ranges and the ratios."""
    parser = argparse.ArgumentParser(prog="bench simstart")
    parser.add_argument("--quick", action="store_true", help="one run of the Kite command, for CI")
    parser.add_argument("--runs", type=int, default=5, help="runs of each side after its warm-up (default 5)")
    parser.add_argument("--against", metavar="REV", help="also run the commands with git revision REV's code")
    args = parser.parse_args(argv)
    runs = 1 if args.quick else args.runs
    names = ["kite"] if args.quick else list(COMMANDS)
    figures: Figures = {}
    with tempfile.TemporaryDirectory(prefix="kitekit-bench-") as tmp:
        base = Path(tmp)
        old = _unpack(args.against, base / "old") if args.against else None
        for name in names:
            command = COMMANDS[name]
            sides = {
                "kitekit": _side(base / name / "kept", command, kept=True),
                "baseline": _side(base / name / "built", command, kept=False),
            }
            if old is not None:
                sides[args.against] = _side(base / name / "old", command, kept=False, src=old)
            whole_processes(sides, 1, cwd=base)  # warm-up: sessions, instrument caches, the day's kept builds
            times: dict[str, Spread] = whole_processes(sides, runs, cwd=base)
            print(f"kitekit {' '.join(command)}: whole process, second command onward")
            for side, spread in times.items():
                print(f"  {side:<10} {spread}")
            ours = times["kitekit"].median
            for side, spread in times.items():
                if side != "kitekit":
                    print(f"  ratio against {side}: {spread.median / ours:.2f}x")
                    figures[f"{name}_ratio_{'built' if side == 'baseline' else 'against'}"] = spread.median / ours
            figures[f"{name}_s"] = ours
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
