"""Run benchmarks: ``python -m bench`` lists them, ``python -m bench NAME [args]`` runs one (or ``all``)."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def _names() -> list[str]:
    return sorted(m.name[len("bench_") :] for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))


def main(argv: list[str]) -> int:
    names = _names()
    if not argv:
        print("usage: ./dev bench NAME [args] | all\navailable:", ", ".join(names))
        return 2
    chosen = names if argv[0] == "all" else [argv[0]]
    for name in chosen:
        if name not in names:
            print(f"unknown benchmark {name!r}; available: {', '.join(names)}")
            return 2
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"== {name}")
        module.main(argv[1:] if argv[0] != "all" else [])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
