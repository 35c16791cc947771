"""What the parent reads from a sandboxed run (:mod:`proctor.control.sandbox`): the records'
types, the record channel's parser, the honeypots' inotify watch and the output streams.

Re-exported by :mod:`proctor.control.sandbox`; nothing here imports proctor.
"""

from __future__ import annotations

import ast
import codecs
import os
import struct
from dataclasses import dataclass
from typing import Literal

ViolationKind = Literal["network", "filesystem", "process", "interpreter", "honeypot"]
KINDS: tuple[ViolationKind, ...] = ("network", "filesystem", "process", "interpreter", "honeypot")


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot run here (it needs Linux)."""


@dataclass(frozen=True)
class Violation:
    """One attempt the sandbox refused, or a honeypot touched (allowed, recorded)."""

    kind: ViolationKind
    event: str
    """The audit event, e.g. ``socket.connect``, ``open``, ``os.fork``."""
    detail: str
    """What was attempted, e.g. ``reach 127.0.0.1:9``, ``write /tmp/x``, ``fork``."""
    target: str = ""
    """Where it reached: an address, an absolute path, or a honeypot's path in the directory."""
    write: bool = False
    """For files: a write (create, change, remove, rename) rather than a read."""

    @property
    def refused(self) -> bool:
        """True for everything but a honeypot touch (which the sandbox allows)."""
        return self.kind != "honeypot"


class Text:
    """A stream's output, decoded as it comes, kept up to a number of characters."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.over = False
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def feed(self, data: bytes) -> bool:
        """Take more bytes; True the first time the output passes the limit."""
        if self.over:
            return False
        piece = self.decoder.decode(data)
        self.parts.append(piece)
        self.size += len(piece)
        if self.size > self.limit:
            self.over = True
            return True
        return False

    def text(self) -> str:
        joined = "".join(self.parts) + ("" if self.over else self.decoder.decode(b"", final=True))
        if len(joined) > self.limit:
            return joined[: self.limit] + f"\n[output cut at {self.limit} characters]"
        return joined


class Records:
    """The record channel, read as it comes, in bounded memory: every record is found by its
    marker (whatever the code wrote before it on the line), at most `keep` are kept of each
    kind, and lines that are not records are counted (the hook never writes one)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.violations: list[Violation] = []
        self.kept: dict[str, int] = {}
        self.dropped: dict[str, int] = {}
        self.netns = self.ended = False
        self.kernel: int | None = None
        self.junk = 0
        self.partial = b""

    def feed(self, data: bytes) -> None:
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        if len(self.partial) > 8192:  # no record is this long
            self.partial = b""
            self.junk += 1
        for line in lines:
            self._line(line)

    def _line(self, raw: bytes) -> None:
        before, marker, body = raw.rpartition(b"\x1e")
        if before or not marker:
            self.junk += 1
        if not marker:
            return
        try:
            fields = ast.literal_eval(body.decode("utf-8", "replace"))
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            self.junk += 1
            return
        if not isinstance(fields, tuple) or not all(isinstance(f, str) for f in fields):
            self.junk += 1
        elif fields == ("end",):
            self.ended = True
        elif len(fields) == 2 and fields[0] == "netns":
            self.netns = fields[1] == "1"
        elif len(fields) == 2 and fields[0] == "kernel" and fields[1].isdigit():
            self.kernel = int(fields[1])
        elif len(fields) == 5 and fields[0] in KINDS:
            kind, event, detail, target, write = fields
            if self.kept.get(kind, 0) >= self.keep:
                self.dropped[kind] = self.dropped.get(kind, 0) + 1
                return
            self.kept[kind] = self.kept.get(kind, 0) + 1
            self.violations.append(Violation(kind, event, detail, target, write == "w"))
        else:
            self.junk += 1


class Watch:
    """The honeypots, watched by this process through inotify (Linux): the kernel reports every
    open of one of them here, whatever the code did to the record channel or the hook."""

    _IN_ACCESS, _IN_MODIFY, _IN_OPEN = 0x1, 0x2, 0x20
    _EVENT = struct.Struct("iIII")

    def __init__(self, workdir: str, honeypots: list[str]) -> None:
        self.fd = -1
        self.names: dict[int, str] = {}
        if not honeypots:
            return
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = int(libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC))
        if self.fd < 0:
            raise SandboxUnavailable(f"inotify: {os.strerror(ctypes.get_errno())}")
        mask = self._IN_ACCESS | self._IN_MODIFY | self._IN_OPEN
        for name in honeypots:
            wd = int(libc.inotify_add_watch(self.fd, os.path.join(workdir, name).encode(), mask))
            if wd < 0:
                err = os.strerror(ctypes.get_errno())
                self.close()
                raise SandboxUnavailable(f"inotify cannot watch honeypot {name!r}: {err}")
            self.names[wd] = name

    def touched(self) -> list[tuple[str, bool]]:
        """(honeypot, written) for each one opened since the watch began, in the order seen."""
        if self.fd < 0:
            return []
        data = b""
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
        seen: dict[str, bool] = {}
        at = 0
        while at + self._EVENT.size <= len(data):
            wd, mask, _, size = self._EVENT.unpack_from(data, at)
            at += self._EVENT.size + size
            if wd in self.names and mask & (self._IN_ACCESS | self._IN_MODIFY | self._IN_OPEN):
                name = self.names[wd]
                seen[name] = seen.get(name, False) or bool(mask & self._IN_MODIFY)
        return list(seen.items())

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
