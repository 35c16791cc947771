"""Control: where code that researchers write is run (DESIGN.md §2, "what each part may see").

:func:`run_sandboxed` runs Python code in a subprocess with a private directory, hard resource
limits, no network, and an audit hook that refuses and records attempts to reach outside; the
lab's ``run_python`` action (:mod:`proctor.lab`) is built on it. Linux only.
"""

from proctor.control.sandbox import (
    Limits,
    SandboxResult,
    SandboxUnavailable,
    Violation,
    ViolationKind,
    run_sandboxed,
)

__all__ = [
    "Limits",
    "SandboxResult",
    "SandboxUnavailable",
    "Violation",
    "ViolationKind",
    "run_sandboxed",
]
