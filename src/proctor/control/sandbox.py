"""Run Python code in a sandbox: a private directory, a boundary the kernel enforces, hard
resource limits, no network, and a record of every refused attempt.

:func:`run_sandboxed` runs `code` in a fresh ``python -I`` subprocess (isolated mode: no user site,
no ``PYTHON*`` variables, the script's directory not on the path) whose working directory is a
new temporary directory holding the given files; the directory is removed afterwards, and the
files the code created or changed there come back in the result.

**The boundary is the kernel's** (:mod:`proctor.control._kernel`), set by the child on itself
before the code runs and irreversible after:

* Landlock: the working directory may be read and changed; Python's prefixes, the system's
  libraries and a few system files may be read; nothing else can be opened, created, removed,
  renamed, linked, truncated or made a device or FIFO, by any path (``..``, symbolic links,
  ``dir_fd``, hard links, native code, SQLite's own file calls); no TCP port can be bound or
  reached; no signal reaches a process outside. It holds for root too;
* a seccomp filter: no new programs or processes (threads only), no ``setsid``/``setpgid`` (so
  the process-group kill below holds), no ``mknod``, mounts, namespaces, ``ptrace``,
  ``io_uring``, BPF, kernel modules or sockets other than IP ones; the record channel can be
  neither closed nor replaced;
* resource limits: CPU seconds (``RLIMIT_CPU``), address space (``RLIMIT_AS``), size of any
  file written (``RLIMIT_FSIZE``), processes (``RLIMIT_NPROC``), no core files; as root every
  capability is dropped first, so the limits cannot be raised again;
* a wall-clock limit: the child runs in its own session and process group, which is killed
  (``SIGKILL``) when the time is up, when its output passes the limit, and after it exits; the
  kernel also kills it if this process dies;
* no network: a new network namespace with no interface up (``unshare(CLONE_NEWNET)``, as root;
  :attr:`SandboxResult.network_namespace` says whether it held), beneath Landlock's TCP rule.

A kernel that cannot do this (not Linux, not x86-64, no Landlock) gets
:class:`SandboxUnavailable` with one line saying which: the sandbox fails closed.

**The recorder.** The audit hook (PEP 578, ``sys.addaudithook``; :mod:`proctor.control._child`),
installed before the code runs and impossible to remove from Python, refuses early and records:
network access, file access outside the directory (writes anywhere else; reads anywhere else but
Python's prefixes and a few system files), leaving the directory, new processes, signals, raising
limits, loading native code from outside Python's prefixes, ``ctypes``' raw-memory helpers, and
introspection that could reach the hook; SQLite's ``ATTACH`` and ``VACUUM INTO`` through an
authorizer on every connection; ``mknod``, ``mkfifo``, ``setsid`` and ``setpgid`` through
stand-ins. Reading a **honeypot** is allowed and recorded — by the hook, and by this process too,
which watches the honeypots through inotify, so a read is recorded whatever the code did to its
own interpreter. Each record is one atomic write to a pipe only this process reads: records are
found by their marker whatever was written around them, at most
:attr:`Limits.max_violations` are kept of each kind (the rest counted), anything else on the
channel is itself recorded, and a run that ends without its closing record is recorded.

**What the recorder misses** (the kernel still refuses; ``tests/test_sandbox_escapes.py`` holds
each case): code that reaches raw memory without an audit event (``ctypes.cast``, which SciPy
needs, or a ``Union`` of an integer and a pointer) can blind the hook; the real ``os.open`` and
``sqlite3.connect`` sit among their stand-ins' default arguments, and a connection can drop its
authorizer; a thread that swaps a symbolic link between the hook's check and the call can make
the hook check the wrong file. ``os.stat`` raises no audit event and Landlock does not govern it:
code can learn that a file exists outside, and its size and times. The directory's total size is
bounded only by time (``RLIMIT_FSIZE`` limits each file, not their number).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from proctor.control._records import (
    KINDS,
    Records,
    SandboxUnavailable,
    Text,
    Violation,
    ViolationKind,
    Watch,
)

__all__ = [
    "Limits",
    "SandboxResult",
    "SandboxUnavailable",
    "Violation",
    "ViolationKind",
    "run_sandboxed",
]

StoppedBy = Literal["cpu", "memory", "wall", "file_size", "output"]

_CHILD = "\n".join(
    Path(__file__).with_name(name).read_text(encoding="utf-8")
    for name in ("_kernel.py", "_child.py")
)
"""The child's script: the kernel's half, then the child's (it cannot import proctor)."""
_UNSUPPORTED: list[str | None] = []
_MEMORY = re.compile(r"^(\w+\.)*_?\w*MemoryError\b", re.M)
_TOO_LARGE = re.compile(r"\[Errno 27\] File too large")


@dataclass(frozen=True)
class Limits:
    """What one run may use. The defaults fit a numpy / scikit-learn analysis of a small data set
    (importing both and fitting a model takes about 2 s of CPU and 400 MB of address space)."""

    cpu_seconds: int = 10
    """CPU time (user + system), whole seconds: ``SIGXCPU`` at the limit, ``SIGKILL`` 1 s on."""
    wall_seconds: float = 30.0
    """Wall-clock time before the process group is killed (a loaded machine runs slower)."""
    memory_bytes: int = 1 << 30
    """Address space (``RLIMIT_AS``); past it, allocations fail with ``MemoryError``."""
    file_size_bytes: int = 10_000_000
    """Largest file the code may write (``RLIMIT_FSIZE``)."""
    max_output: int = 100_000
    """Characters of stdout and of stderr kept; more output stops the run (``output``)."""
    max_processes: int = 64
    """``RLIMIT_NPROC`` (threads count; not enforced for root, where the hook stops forks)."""
    max_file_chars: int = 100_000
    """Longest written file returned in :attr:`SandboxResult.written`."""
    max_files: int = 100
    """Most written files returned."""
    max_violations: int = 100
    """Most violations kept of each kind (the rest are counted in :attr:`SandboxResult.dropped`):
    a flood of one kind cannot push out a record of another, a honeypot touch above all."""

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not value > 0:
                raise ValueError(f"limit {name} must be > 0, got {value}")


@dataclass(frozen=True)
class SandboxResult:
    """What one run did. Output and files are bounded by the run's :class:`Limits`."""

    exit_code: int
    """The process's exit status; minus the signal number when a signal ended it."""
    stdout: str
    stderr: str
    stopped_by: StoppedBy | None
    """The limit that ended the run, or None when the code ended on its own."""
    violations: tuple[Violation, ...]
    written: dict[str, str] = field(default_factory=dict)
    """Files the code created or changed in its directory (relative path -> text)."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Files it wrote that are not returned, with why (binary, too long, a link...)."""
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    dropped: int = 0
    """Violations past :attr:`Limits.max_violations`, not kept."""
    network_namespace: bool = False
    """Whether the child ran in its own network namespace (else only the hook kept it off)."""
    landlock_abi: int = 0
    """The Landlock ABI the kernel enforced the run under."""

    @property
    def refused(self) -> tuple[Violation, ...]:
        """The attempts the sandbox refused (every violation but honeypot touches)."""
        return tuple(v for v in self.violations if v.refused)

    @property
    def ok(self) -> bool:
        """Ended on its own with status 0 and nothing refused."""
        return self.exit_code == 0 and self.stopped_by is None and not self.refused

    def summary(self) -> str:
        """One line: how it ended and what was recorded."""
        how = f"stopped by the {self.stopped_by} limit" if self.stopped_by else "ended"
        counts = {k: sum(v.kind == k for v in self.violations) for k in KINDS}
        shown = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        return (
            f"{how} with status {self.exit_code} after {self.wall_seconds:.1f} s; "
            f"{len(self.written)} file(s) written; violations: {shown or 'none'}"
            + (f" (+{self.dropped} not kept)" if self.dropped else "")
        )


def _check_files(files: Mapping[str, str], honeypots: Collection[str]) -> None:
    for name in files:
        parts = name.split("/")
        if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"sandbox file name {name!r} is not a plain relative path")
    missing = set(honeypots) - set(files)
    if missing:
        raise ValueError(f"honeypot(s) {sorted(missing)} are not among the files")


def unsupported() -> str | None:
    """Why the sandbox cannot run on this machine (one line), or None; asked of the kernel once."""
    if not sys.platform.startswith("linux"):
        return f"the sandbox needs Linux (Landlock and seccomp), not {sys.platform}"
    if not _UNSUPPORTED:
        from proctor.control import _kernel

        _UNSUPPORTED.append(_kernel.unsupported())
    return _UNSUPPORTED[0]


def run_sandboxed(
    code: str,
    files: Mapping[str, str],
    limits: Limits | None = None,
    honeypots: Collection[str] = (),
) -> SandboxResult:
    """Run `code` in the sandbox (see the module docstring) with `files` in its directory.

    Args:
        code: Python source, run as ``__main__``.
        files: relative path -> text, written into the directory first.
        limits: what the run may use (default :class:`Limits`).
        honeypots: paths among `files` whose reading is recorded (kind ``honeypot``).

    Raises:
        SandboxUnavailable: the kernel cannot enforce the boundary (not Linux, not x86-64, no
            Landlock), or refused to set it up; the message is one line saying which.
        ValueError: a file name that is not a plain relative path, or a honeypot not in `files`.
    """
    why = unsupported()
    if why is not None:
        raise SandboxUnavailable(why)
    limits = limits or Limits()
    _check_files(files, honeypots)
    workdir = os.path.realpath(tempfile.mkdtemp(prefix="proctor-sandbox-"))
    try:
        for name, content in files.items():
            path = Path(workdir, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        run = _Run(code, workdir, limits, sorted(honeypots))
        return run.result(files)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


class _Run:
    """One child process: started in __init__, watched and collected by :meth:`result`."""

    def __init__(self, code: str, workdir: str, limits: Limits, honeypots: list[str]) -> None:
        self.workdir, self.limits = workdir, limits
        self.honeypots = Watch(workdir, honeypots)
        read_fd, write_fd = os.pipe()
        config = {
            "workdir": workdir,
            "honeypots": honeypots,
            "fd": write_fd,
            "cpu": limits.cpu_seconds,
            "memory": limits.memory_bytes,
            "file_size": limits.file_size_bytes,
            "nproc": limits.max_processes,
        }
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": workdir,
            "TMPDIR": workdir,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-B", "-u", "-c", _CHILD],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=workdir,
                env=env,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        except BaseException:
            os.close(read_fd)
            self.honeypots.close()
            raise
        finally:
            os.close(write_fd)
        self.records = os.fdopen(read_fd, "rb", buffering=0)
        self.stdin = (json.dumps(config) + "\n" + code).encode("utf-8")

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def result(self, given: Mapping[str, str]) -> SandboxResult:
        """Feed the child its input, read its output and records until it ends (or a limit
        ends it), and collect what it did."""
        limits = self.limits
        assert self.proc.stdin and self.proc.stdout and self.proc.stderr
        streams = {
            self.proc.stdout.fileno(): Text(limits.max_output),
            self.proc.stderr.fileno(): Text(limits.max_output),
        }
        records = Records(limits.max_violations)
        status, cpu, stopped = self._communicate(streams, records)
        wall = time.monotonic() - self.started
        stdout, stderr = (self._clean(s.text()) for s in streams.values())
        seen_by_parent = self.honeypots.touched()  # before anything here opens the files
        self.honeypots.close()
        if status == 70 and records.kernel is None and stderr.startswith("sandbox setup failed"):
            raise SandboxUnavailable(stderr.strip().splitlines()[-1][:300])
        stopped = stopped or _stopped_by(status, cpu, stderr, limits)
        violations = _violations(records, status, stopped, seen_by_parent)
        written, skipped = self._written(given)
        return SandboxResult(
            exit_code=status,
            stdout=stdout,
            stderr=stderr,
            stopped_by=stopped,
            violations=tuple(violations),
            written=written,
            skipped=skipped,
            wall_seconds=wall,
            cpu_seconds=cpu,
            dropped=sum(records.dropped.values()),
            network_namespace=records.netns,
            landlock_abi=records.kernel or 0,
        )

    def _communicate(
        self, streams: dict[int, Text], records: Records
    ) -> tuple[int, float, StoppedBy | None]:
        """Write the child's input and read its output and records until it has ended and its
        outputs are drained (2 s at most), killing its group at the wall-clock limit or when
        its output passes the limit: (exit status, CPU seconds, the limit the parent applied)."""
        assert self.proc.stdin and self.proc.stdout and self.proc.stderr
        limits = self.limits
        sel = selectors.DefaultSelector()
        for fd in (*streams, self.records.fileno()):
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        stdin_fd = self.proc.stdin.fileno()
        os.set_blocking(stdin_fd, False)
        sel.register(stdin_fd, selectors.EVENT_WRITE)
        pending = memoryview(self.stdin)
        status: int | None = None
        cpu = 0.0
        stopped: StoppedBy | None = None
        deadline = self.started + limits.wall_seconds
        drain_until = float("inf")
        try:
            while status is None or (sel.get_map() and time.monotonic() < drain_until):
                for key, _ in sel.select(timeout=0.02) if sel.get_map() else _pause():
                    fd = int(key.fd)
                    if fd == stdin_fd:
                        pending = self._write_input(sel, fd, pending)
                        continue
                    try:
                        data = os.read(fd, 65536)
                    except BlockingIOError:
                        continue
                    if not data:
                        sel.unregister(fd)
                    elif fd in streams:
                        if streams[fd].feed(data) and stopped is None:
                            stopped = "output"
                            self._kill()
                    else:
                        records.feed(data)
                if status is None:
                    pid, raw, usage = os.wait4(self.proc.pid, os.WNOHANG)
                    if pid:
                        status = os.waitstatus_to_exitcode(raw)
                        cpu = usage.ru_utime + usage.ru_stime
                        self._kill()  # any stray process left in its group
                        drain_until = time.monotonic() + 2.0
                    elif time.monotonic() > deadline and stopped is None:
                        stopped = "wall"
                        self._kill()
        finally:
            sel.close()
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr, self.records):
                stream.close()
            if status is None:  # still running after the drain: should not happen
                self._kill()
                _, raw, usage = os.wait4(self.proc.pid, 0)
                status = os.waitstatus_to_exitcode(raw)
                cpu = usage.ru_utime + usage.ru_stime
            self.proc.returncode = status
        return status, cpu, stopped

    def _write_input(self, sel: selectors.BaseSelector, fd: int, pending: memoryview) -> memoryview:
        """Write what the child can take of its input; closed once all of it is written (or
        the child ended before reading everything). Returns what is left to write."""
        assert self.proc.stdin
        try:
            pending = pending[os.write(fd, pending[:65536]) :]
        except BlockingIOError:
            return pending
        except BrokenPipeError:  # it ended before reading everything
            pending = pending[:0]
        if not pending:
            sel.unregister(fd)
            self.proc.stdin.close()
        return pending

    def _clean(self, text: str) -> str:
        """Output with the (random) directory name replaced by ``.``."""
        return text.replace(self.workdir + "/", "./").replace(self.workdir, ".")

    def _written(self, given: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """New or changed regular files in the directory (never following links)."""
        limits = self.limits
        written: dict[str, str] = {}
        skipped: dict[str, str] = {}
        seen = 0
        for root, dirs, names in os.walk(self.workdir, followlinks=False):
            dirs.sort()
            for name in sorted(names):
                seen += 1
                full = os.path.join(root, name)
                rel = os.path.relpath(full, self.workdir)
                if seen > 10 * limits.max_files:
                    skipped["..."] = "too many files to look at"
                    return written, skipped
                why, content = _read_plain(full, limits.max_file_chars)
                if content is not None and given.get(rel) == content:
                    continue
                if why is None and len(written) >= limits.max_files:
                    why = "too many files"
                if why is not None:
                    skipped[rel] = why
                elif content is not None:
                    written[rel] = content
        return written, skipped


def _violations(
    records: Records, status: int, stopped: StoppedBy | None, seen_by_parent: list[tuple[str, bool]]
) -> list[Violation]:
    """The run's violations: its records, a run that ended without its closing record, junk on
    the record channel, and the honeypot touches the parent saw that no record reports."""
    violations = records.violations
    if not records.ended and stopped is None and status >= 0 and status != 70:
        violations.append(
            Violation(
                "interpreter",
                "sandbox.record",
                "the run ended without its closing record (os._exit, or the record channel closed)",
            )
        )
    if records.junk:
        violations.append(
            Violation(
                "interpreter",
                "sandbox.record",
                f"the code wrote to the record channel ({records.junk} line(s) that are not "
                "records)",
            )
        )
    recorded = {(v.target, v.write) for v in violations if v.kind == "honeypot"}
    for name, write in seen_by_parent:
        if (name, write) not in recorded and (name, True) not in recorded:
            access = "write" if write else "read"
            violations.append(
                Violation(
                    "honeypot", "inotify", f"{access} {name} (seen by the parent)", name, write
                )
            )
    return violations


def _pause() -> list[tuple[selectors.SelectorKey, int]]:
    """Wait a moment when there is nothing left to read (the child closed its outputs)."""
    time.sleep(0.02)
    return []


def _read_plain(path: str, max_chars: int) -> tuple[str | None, str | None]:
    """(why it is skipped, or None; its text, or None) for one file found in the directory."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file", None
        if info.st_nlink > 1:
            return "a hard link", None
        if info.st_size > 4 * max_chars:
            return "too long", None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return "not a regular file", None
            data = handle.read(4 * max_chars + 1)
    except OSError as err:
        return f"unreadable ({err.strerror})", None
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError:
        return "binary", None
    if len(content) > max_chars:
        return "too long", content
    return None, content


def _stopped_by(status: int, cpu: float, stderr: str, limits: Limits) -> StoppedBy | None:
    """Which limit ended a run the parent did not stop itself, read off how it ended."""
    # SIGKILL that the parent did not send: the kernel, at the hard CPU limit (1 s past the
    # soft one, where a program that handles SIGXCPU goes on; usage is counted coarsely).
    if status == -signal.SIGXCPU or (status == -signal.SIGKILL and cpu >= 0.8 * limits.cpu_seconds):
        return "cpu"
    if status == -signal.SIGXFSZ:
        return "file_size"
    if status != 0:
        tail = stderr[-2000:]
        if _MEMORY.search(tail):
            return "memory"
        if _TOO_LARGE.search(tail):
            return "file_size"
    return None
