"""`make bench`: every benchmark, each figure beside the baseline timed in the same run, and the ratio.

Usage: python -m benchmarks.run [--quick] [SECTION ...]   (sections: cold, cold-plain, noop, noop-plain, fleet)
Asserts nothing: figures vary by machine, ratios much less; a row with a target says whether it is met.
"""

from __future__ import annotations

import argparse
import importlib
import time

from benchmarks.common import Row

# name → the module whose rows(quick) it prints (module:function for another function)
SECTIONS = {
    "cold": "benchmarks.cold_bench",
    "cold-plain": "benchmarks.cold_bench:plain_rows",
    "noop": "benchmarks.noop_bench",
    "noop-plain": "benchmarks.noop_bench:plain_rows",
    "fleet": "benchmarks.fleet_bench",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and smaller scaling rows")
    parser.add_argument("sections", nargs="*", metavar="SECTION", help=", ".join(SECTIONS))
    args = parser.parse_args()
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    for name in args.sections or SECTIONS:
        start = time.perf_counter()
        print(f"== {name}", flush=True)
        module, _, function = SECTIONS[name].partition(":")
        for row in getattr(importlib.import_module(module), function or "rows")(quick=args.quick):
            if isinstance(row, Row):
                print(row.line(), flush=True)
            else:  # (name, value, baseline, ratio)
                label, value, baseline, ratio = row
                print(f"{label}: {value:.3f} against {baseline:.3f} = {ratio:.2f}x", flush=True)
        print(f"   ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
