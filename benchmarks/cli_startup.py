"""How fast a bad flag is refused (issue 21: under 2 s, checked before torch loads).

Runs each refused command REPEATS times in a fresh interpreter and reports the median
wall time, the exit code and whether torch was imported, beside the time the
interpreter takes to start and import `cli.main` alone (the floor).

    python benchmarks/cli_startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

REFUSED = (
    ["run", "--space", "nope"],
    ["run", "--strategy", "nope"],
    ["run", "--searcher", "nope"],
    ["run", "--set", "nope=1"],
    ["run", "--set", "searcher.nope=1"],
    ["run", "--set", "search.population=3"],
    ["latency", "build", "--space", "nope", "--out", "x.json"],
    ["run", "--space", "glit", "--budget", "macs=1G,macs=2G"],  # after the space's data check
)
PROBE = """
import sys
from cli.main import cli
try:
    cli.main(args=sys.argv[1:], prog_name="archsearch", standalone_mode=True)
except SystemExit as done:
    code = done.code
print("torch" in sys.modules, "scipy" in sys.modules, code, file=sys.stderr)
"""


def timed(args: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=False
    )
    return time.perf_counter() - started, done.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    floor = statistics.median(timed(["--help"])[0] for _ in range(repeats))
    print(f"{'command':52s} median s  torch imported, scipy imported, exit code")
    print(f"{'archsearch --help (the floor)':52s} {floor:8.2f}")
    for args in REFUSED:
        runs = [timed(args) for _ in range(repeats)]
        wall = statistics.median(w for w, _ in runs)
        print(f"{'archsearch ' + ' '.join(args):52s} {wall:8.2f}  {runs[-1][1]}")


if __name__ == "__main__":
    main()
