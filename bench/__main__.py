"""Benchmark runner: `python -m bench [name ...]` runs every `bench/bench_<name>.py`, or the named ones."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

PREFIX = "bench_"


def discover() -> list[str]:
    """Names of the benchmark modules, without the `bench_` prefix, sorted."""
    here = str(Path(__file__).resolve().parent)
    return sorted(m.name[len(PREFIX) :] for m in pkgutil.iter_modules([here]) if m.name.startswith(PREFIX))


def _entry_point(name: str) -> Callable[[], None]:
    module = importlib.import_module(f"bench.{PREFIX}{name}")
    entry: Callable[[], None] = module.main
    return entry


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks; 2 when a name is unknown."""
    available = discover()
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run MedCampaign benchmarks.")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all): {', '.join(available)}")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every benchmark's finally blocks stop their app and database.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    if args.list:
        print("\n".join(available))
        return 0
    selected = [n.removeprefix(PREFIX) for n in args.names] or available
    unknown = [n for n in selected if n not in available]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}")
    for name in selected:
        title = f" {name} (bench/{PREFIX}{name}.py) "
        print(f"\n{title:=^78}")
        started = time.perf_counter()
        _entry_point(name)()
        print(f"[{name} finished in {time.perf_counter() - started:.1f} s]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
