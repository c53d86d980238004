"""Run benchmarks: ``python -m bench`` lists them, ``python -m bench NAME [args]`` runs one, ``all`` runs every one.

``--quick`` (also after ``all``) runs each benchmark on a small input in seconds, through the same code paths:
CI runs ``./dev bench all --quick`` so that no benchmark can rot. A benchmark fails the run if it raises or
returns no figures (or a figure that is not a finite number of zero or more).
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import sys
import time
import traceback

import bench


def _names() -> list[str]:
    return sorted(m.name[len("bench_") :] for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))


def _run(name: str, argv: list[str]) -> bool:
    """Run one benchmark; return True if it produced its figures."""
    module = importlib.import_module(f"bench.bench_{name}")
    print(f"== {name} {' '.join(argv)}".rstrip(), flush=True)
    started = time.perf_counter()
    try:
        figures = module.main(argv)
    except Exception:
        traceback.print_exc()
        print(f"!! {name}: crashed", flush=True)
        return False
    bad = [k for k, v in (figures or {}).items() if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0)]
    if not figures or bad:
        print(f"!! {name}: missing or invalid figures {bad or '(none returned)'}", flush=True)
        return False
    print(f"== {name}: {len(figures)} figures in {time.perf_counter() - started:.1f}s", flush=True)
    return True


def main(argv: list[str]) -> int:
    names = _names()
    if not argv:
        print("usage: ./dev bench NAME [args] | all [--quick]\navailable:", ", ".join(names))
        return 2
    if argv[0] != "all":
        if argv[0] not in names:
            print(f"unknown benchmark {argv[0]!r}; available: {', '.join(names)}")
            return 2
        return 0 if _run(argv[0], argv[1:]) else 1
    failed = [name for name in names if not _run(name, ["--quick"] if "--quick" in argv[1:] else [])]
    if failed:
        print(f"!! failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
