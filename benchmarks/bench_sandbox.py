"""How much one ``run_python`` call costs in the sandbox: wall time per call of
:func:`proctor.control.run_sandboxed`, median over repeated calls, for an empty program and for
a small numpy analysis (what the lab's researchers run), and the child's CPU time (user +
system, which a loaded machine disturbs less than the wall clock).

    .venv/bin/python benchmarks/bench_sandbox.py --calls 25

Run it against another checkout's sources to compare (``PYTHONPATH=<checkout>/src``): the
figures in RESULTS.md put the sandbox before and after the kernel boundary (issue 19) side by
side on one machine, one after the other.
"""

from __future__ import annotations

import argparse
import statistics
import time

from proctor.control import Limits, run_sandboxed

PROGRAMS = {
    "empty": "pass\n",
    "numpy mean": (
        "import numpy as np\n"
        "x = np.loadtxt('data.csv', delimiter=',')\n"
        "print(x.mean(axis=0).round(3).tolist())\n"
    ),
}
FILES = {"data.csv": "\n".join(f"{i},{i * i % 7},{i % 3}" for i in range(200)) + "\n"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--calls", type=int, default=25, help="calls per program (median over them)"
    )
    args = parser.parse_args()
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    limits = Limits()
    for name, code in PROGRAMS.items():
        run_sandboxed(code, FILES, limits)  # warm the file cache
        times, cpu = [], []
        for _ in range(args.calls):
            start = time.perf_counter()
            result = run_sandboxed(code, FILES, limits)
            times.append(time.perf_counter() - start)
            cpu.append(result.cpu_seconds * 1000)
            if result.exit_code != 0:
                raise SystemExit(f"{name}: the program failed: {result.stderr[-300:]}")
        ms = sorted(t * 1000 for t in times)
        q1, q3 = ms[len(ms) // 4], ms[(3 * len(ms)) // 4]
        print(
            f"{name:11s} median {statistics.median(ms):7.1f} ms"
            f"  (quartiles {q1:.1f}-{q3:.1f} ms, n={len(ms)});"
            f" the child's CPU time, median {statistics.median(cpu):6.1f} ms"
        )


if __name__ == "__main__":
    main()
