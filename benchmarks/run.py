"""`make bench`: every benchmark, each figure beside the baseline timed in the same run, and the ratio.

Usage: python -m benchmarks.run [--quick] [SECTION ...]   (sections: cold, noop, fleet)
Asserts nothing: figures vary by machine, ratios much less. The targets are issue 17's.
"""

from __future__ import annotations

import argparse
import importlib
import time

# name → (module, its rows() arguments: normal, --quick)
SECTIONS: dict[str, tuple[str, dict[str, int], dict[str, int]]] = {
    "cold": ("benchmarks.cold_bench", {"runs": 15}, {"runs": 5}),
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
        module, normal, quick = SECTIONS[name]
        start = time.perf_counter()
        print(f"== {name}", flush=True)
        for row in importlib.import_module(module).rows(**(quick if args.quick else normal)):
            print(row if isinstance(row, str) else row.line(), flush=True)
        print(f"   ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
