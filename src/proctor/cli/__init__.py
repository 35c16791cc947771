"""proctor's command line: a thin layer over the Python API (``proctor.report.run_bench``...).

User mistakes (unknown names, malformed TOML, negative budgets, a missing run) end with a
one-line ``error: ...`` and exit status 2, never a traceback.
"""

# each module registers its commands on `main`
from proctor.cli import bench, info, live, runs  # noqa: F401
from proctor.cli.app import EXIT_USAGE, main

__all__ = ["EXIT_USAGE", "main"]
