"""The child side of :func:`proctor.control.sandbox.run_sandboxed`: harden this process, then
run the code.

The parent runs this file's source as ``python -I -B -u -c <source>`` in the private working
directory and writes to its stdin one line of JSON configuration, then the code. Before the code
runs, this script:

1. sets the resource limits (CPU, address space, file size, processes; no core files), moves the
   process into a new network namespace with no interfaces up (``unshare(CLONE_NEWNET)``; needs
   root, skipped elsewhere), asks the kernel to kill it when its parent dies, as root drops
   every capability, so that the hard limits cannot be raised again, then applies Landlock and the
   seccomp filter of :mod:`proctor.control._kernel` (whose source the parent sends ahead of this
   file's): from here on the kernel refuses, whatever the code does, every change outside the
   working directory; a kernel without them ends the run before the code starts (status 70);
2. installs the audit hook (PEP 578) built by :func:`build` — the *recorder*: it refuses early
   and records what passes through Python — and puts its stand-ins for the functions that raise
   no audit event of their own where the import system, ``subprocess`` and ``os`` call them
   (``_posixsubprocess.fork_exec``; ``_imp.create_dynamic`` and ``_imp.create_builtin``, which
   would load native code or a fresh, unreplaced copy of a module; ``mknod``, ``mkfifo``,
   ``setsid``, ``setpgid`` and ``setpgrp``, which the kernel refuses too);
3. runs the code as ``__main__`` (file name ``<run_python>``), with the working directory first
   on ``sys.path`` and every path entry outside Python's prefixes removed.

**Keeping the hook out of the code's reach.** Code can reach the hook's frame (the frames of a
traceback of a refusal) and from there the functions it calls, so nothing reachable from them
may be changed: every function :func:`build` makes gets all it uses as *positional default
arguments* (held in an immutable tuple), never as a closure variable (a closure's cells can be
rewritten), a module global or a builtin looked up at call time (both can be rebound), and keeps
its tables in tuples and frozensets (a read-only mapping is not enough: comparing one with a
``dict`` subclass hands the subclass the mapping underneath). Replacing the code or the defaults of
one of these functions is refused. The hook never calls code the program could supply: paths
are read from plain ``str``, ``bytes``, file descriptors and pathlib's own path objects (through
their slots) only; any other path-like object is refused. ``tests/test_sandbox.py`` checks that
no function here loads a global or a closure variable.

A record is one line, written by one ``write`` of fewer than ``PIPE_BUF`` bytes (so never
interleaved with anything else written to the pipe): the marker ``\x1e``, then the ``repr`` of a
tuple of strings (the parent reads it with ``ast.literal_eval``): ``(kind, event, detail,
target, "w" or "")`` for an attempt, ``("netns", "1" or "0")`` and ``("kernel", <Landlock ABI>)``
once at the start, and ``("end",)`` after the code has finished. The code can write to the pipe
too (its number is no secret); the parent finds every record by its marker, whatever was
written before it on the line, and records anything else on the channel as tampering.
"""

import sys
from collections.abc import Callable
from types import CodeType
from typing import Any, NoReturn

NETWORK_EVENTS = {
    "socket.connect": (1,),
    "socket.bind": (1,),
    "socket.sendto": (1,),
    "socket.sendmsg": (1,),
    "socket.getaddrinfo": (0, 1),
    "socket.gethostbyname": (0,),
    "socket.gethostbyaddr": (0,),
    "socket.getnameinfo": (0,),
    "socket.sethostname": (0,),
    "urllib.Request": (0,),
    "http.client.connect": (1, 2),
    "ftplib.connect": (1, 2),
    "smtplib.connect": (1, 2),
    "poplib.connect": (1, 2),
    "imaplib.open": (1, 2),
    "nntplib.connect": (1, 2),
    "telnetlib.Telnet.open": (1, 2),
    "webbrowser.open": (0,),
}
"""Audit events that reach the network -> the indices of the arguments naming where."""
PROCESS_EVENTS = frozenset(
    {
        "os.fork",
        "os.forkpty",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "subprocess.Popen",
        "os.kill",
        "os.killpg",
        "signal.pthread_kill",
        "resource.setrlimit",
        "resource.prlimit",
        "sqlite3.enable_load_extension",
        "sqlite3.load_extension",
        "ctypes.cdata",
        "ctypes.PyObj_FromPtr",
        "ctypes.dlsym/handle",
    }
)
"""Audit events refused as kind ``process``: new processes, signals, limits, native code."""
INTERPRETER_EVENTS = frozenset(
    {
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
        "sys._current_frames",
        "ctypes.string_at",
        "ctypes.wstring_at",
        "ctypes.cdata/buffer",
    }
)
"""Audit events refused as kind ``interpreter``: ways to reach the hook's own objects or the
interpreter's raw memory through ``ctypes``. (A code object built by hand, ``code.__new__``, is
let through: ``types.coroutine`` makes one whenever ``asyncio`` is imported.)"""
STAND_INS = ("mknod", "mkfifo", "setsid", "setpgid", "setpgrp")
"""Functions of ``os`` (and ``posix``) that raise no audit event: each is replaced by a stand-in
that records and refuses the call (the kernel refuses the system call too)."""
CTYPES_STAND_INS = (
    "memmove",
    "memset",
    "string_at",
    "wstring_at",
    "_string_at",
    "_wstring_at",
)
"""``ctypes`` helpers that reach raw memory without an audit event: replaced, with the addresses
they are built from, by stand-ins that record and refuse. (``cast`` stays: SciPy calls it when
imported; with it, or a ``Union`` of an integer and a pointer, code can still reach raw memory
without an event, and so blind this recorder; the kernel's half is unaffected.)"""
SQLITE_ATTACH, SQLITE_DENY = 24, 1
FILE_EVENTS = {
    "os.listdir": ((0,), (), -1),
    "os.scandir": ((0,), (), -1),
    "os.chdir": ((0,), (), -1),
    "os.getxattr": ((0,), (), -1),
    "os.listxattr": ((0,), (), -1),
    "os.remove": ((), (0,), 1),
    "os.rmdir": ((), (0,), 1),
    "os.mkdir": ((), (0,), 2),
    "os.chmod": ((), (0,), 2),
    "os.chown": ((), (0,), 3),
    "os.utime": ((), (0,), 3),
    "os.truncate": ((), (0,), -1),
    "os.setxattr": ((), (0,), -1),
    "os.removexattr": ((), (0,), -1),
    "os.rename": ((), (0, 1), -2),
    "os.link": ((0,), (1,), -2),
    "os.symlink": ((), (1,), 2),
    "shutil.copyfile": ((0,), (1,), -1),
    "shutil.copymode": ((0,), (1,), -1),
    "shutil.copystat": ((0,), (1,), -1),
    "shutil.copytree": ((0,), (1,), -1),
    "shutil.move": ((), (0, 1), -1),
    "shutil.rmtree": ((), (0,), 1),
    "shutil.chown": ((), (0,), -1),
    "tempfile.mkstemp": ((), (0,), -1),
    "tempfile.mkdtemp": ((), (0,), -1),
    "sqlite3.connect": ((), (0,), -1),
}
"""Audit events on paths -> (indices of paths read, indices written, index of ``dir_fd``; -2:
each path ``i`` has its own at ``2 + i``, as ``src_dir_fd`` and ``dst_dir_fd``)."""
BLAS_SYMBOLS = ("openblas", "scipy_openblas", "omp_", "mkl_", "MKL_", "blis", "bli_", "flexiblas")
"""Symbols ``ctypes`` may look up: the thread controls ``threadpoolctl`` calls (scikit-learn)."""
SYSTEM_DIRS = ("/sys/devices/system/cpu", "/sys/fs/cgroup", "/usr/share/zoneinfo")
"""Directories outside Python's prefixes that may be read (CPU counts, time zones)."""
SYSTEM_FILES = (
    "/proc/stat",
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/dev/null",
    "/dev/urandom",
    "/dev/zero",
    "/etc/localtime",
)
"""Files outside Python's prefixes that may be read (with ``/proc/<own pid>/{maps,stat,status}``:
``psutil`` and ``threadpoolctl`` read them when scikit-learn runs)."""
Verdict = tuple[str, str, str, bool, bool]
"""What the hook decides about an event: kind, detail, target, write, refused."""


def build(
    workdir: str,
    python_dirs: tuple[str, ...],
    system_files: frozenset[str],
    honeypots: frozenset[str],
    fd: int,
) -> dict[str, Callable[..., Any]]:
    """The hook and the two replacement functions, as a table of functions (see the module
    docstring for how they are written). `fd` is the record channel."""
    import _imp
    import os
    import pathlib
    import posix
    import stat
    import types

    pipe = os.fstat(fd)
    pipe_id = (pipe.st_dev, pipe.st_ino)
    slot = pathlib.PurePath.__dict__
    file_table = tuple(FILE_EVENTS.items())
    network_table = tuple(NETWORK_EVENTS.items())
    load_dynamic, load_builtin = _imp.create_dynamic, _imp.create_builtin
    # modules the sandbox changes, of which no fresh copy may be made
    replaced = frozenset({"_imp", "_posixsubprocess", "posix", "_ctypes", "_sqlite3"})
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def scalar(
        value: Any,
        _type: Any = type,
        _issub: Any = issubclass,
        _str: Any = str,
        _bytes: Any = bytes,
        _int: Any = int,
        _copy: Any = str.__str__,
        _decode: Any = bytes.decode,
        _int_repr: Any = int.__repr__,
        _name: Any = type.__dict__["__name__"].__get__,
    ) -> str:
        """A plain str for a value, without calling code the program could supply."""
        kind = _type(value)
        if kind is _str:
            return value
        if _issub(kind, _str):
            return _copy(value)
        if _issub(kind, _bytes):
            return _decode(value, "utf-8", "surrogateescape")
        if _issub(kind, _int):
            return _int_repr(value)
        if value is None:
            return ""
        return "<" + _name(kind) + ">"

    def text(
        value: Any, _scalar: Any = scalar, _type: Any = type, _tuple: Any = tuple, _list: Any = list
    ) -> str:
        """:func:`scalar`, and the items of a tuple (joined by ':') or list (by ' ')."""
        kind = _type(value)
        if kind is not _tuple and kind is not _list:
            return _scalar(value)
        out = ""
        for item in value:
            out += (":" if kind is _tuple else " ") if out else ""
            out += _scalar(item)
        return out

    def path_text(
        value: Any,
        _scalar: Any = scalar,
        _type: Any = type,
        _issub: Any = issubclass,
        _str: Any = str,
        _bytes: Any = bytes,
        _list: Any = list,
        _kinds: Any = (pathlib.PosixPath, pathlib.PurePosixPath),
        _cached: Any = slot["_str"].__get__,
        _drv: Any = slot["_drv"].__get__,
        _root: Any = slot["_root"].__get__,
        _parts: Any = slot["_parts"].__get__,
        _Error: Any = BaseException,
    ) -> str | None:
        """The text of a path argument; None for a path of a kind the hook does not read."""
        kind = _type(value)
        if _issub(kind, _str) or _issub(kind, _bytes):
            return _scalar(value)
        if kind is not _kinds[0] and kind is not _kinds[1]:
            return None
        try:
            cached = _cached(value)
            if _type(cached) is _str:
                return cached
        except _Error:
            pass
        drv, root, parts = _drv(value), _root(value), _parts(value)
        if _type(drv) is not _str or _type(root) is not _str or _type(parts) is not _list:
            return None
        joined = ""
        first = True
        for part in parts:
            if _type(part) is not _str:
                return None
            if not first or not (drv or root):
                joined += ("/" if joined else "") + part
            first = False
        return (drv + root + joined) or "."

    def resolve(
        path: str,
        dir_fd: Any = None,
        _type: Any = type,
        _int: Any = int,
        _int_repr: Any = int.__repr__,
        _getcwd: Any = posix.getcwd,
        _readlink: Any = posix.readlink,
        _lstat: Any = posix.lstat,
        _islnk: Any = stat.S_ISLNK,
        _OSError: Any = OSError,
    ) -> str:
        """The absolute path with '.', '..' and symbolic links resolved (like realpath)."""
        if not path.startswith("/"):
            base = _getcwd()
            if _type(dir_fd) is _int and dir_fd >= 0:
                base = _readlink("/proc/self/fd/" + _int_repr(dir_fd))
            path = base + "/" + path
        todo = path.split("/")[::-1]
        done = ""
        links = 0
        while todo:
            name = todo.pop()
            if name == "" or name == ".":
                continue
            if name == "..":
                done = done.rpartition("/")[0]
                continue
            candidate = done + "/" + name
            try:
                mode = _lstat(candidate).st_mode
            except _OSError:
                done = candidate
                continue
            if not _islnk(mode) or links > 40:
                done = candidate
                continue
            links += 1
            target = _readlink(candidate)
            if target.startswith("/"):
                done = ""
            todo.extend(target.split("/")[::-1])
        return done or "/"

    def row(table: tuple[tuple[str, Any], ...], key: str) -> Any:
        """The value for `key` in a table of pairs (a tuple: nothing the code can change)."""
        for name, value in table:
            if name == key:
                return value
        return None

    def under(path: str, dirs: tuple[str, ...]) -> bool:
        """Whether `path` is one of `dirs` or inside one."""
        for d in dirs:  # noqa: SIM110  (a generator expression would be a closure)
            if path == d or path.startswith(d + "/"):
                return True
        return False

    def allowed(
        path: str,
        write: bool,
        _under: Any = under,
        _work: Any = (workdir,),
        _python: Any = python_dirs,
        _system: Any = SYSTEM_DIRS,
        _files: Any = system_files,
    ) -> bool:
        """Whether the sandbox lets the code read (or write) `path` (resolved)."""
        if _under(path, _work) or path == "/dev/null":
            return True
        if write:
            return False
        return _under(path, _python) or _under(path, _system) or path in _files

    def file_verdict(
        event: str,
        raw: Any,
        write: bool,
        dir_fd: Any = None,
        _type: Any = type,
        _int: Any = int,
        _int_repr: Any = int.__repr__,
        _len: Any = len,
        _readlink: Any = posix.readlink,
        _path_text: Any = path_text,
        _resolve: Any = resolve,
        _allowed: Any = allowed,
        _under: Any = under,
        _work: Any = (workdir,),
        _honeypots: Any = honeypots,
        _name: Any = type.__dict__["__name__"].__get__,
    ) -> Verdict | None:
        """The verdict on one path argument of a file event (None: allowed, not recorded)."""
        if _type(raw) is _int:  # an open file descriptor
            if event != "os.listdir" and event != "os.scandir" and event != "os.chdir":
                return None
            raw = _readlink("/proc/self/fd/" + _int_repr(raw))
        if raw is None:
            return None
        given = _path_text(raw)
        if given is None:
            detail = "a path given as " + _name(_type(raw)) + " (not checked)"
            return ("filesystem", detail, "", write, True)
        where = _resolve(given, dir_fd)
        access = "write" if write else "read"
        if where in _honeypots:
            name = where[_len(_work[0]) + 1 :]
            return ("honeypot", access + " " + name, name, write, False)
        inside = _under(where, _work) if event == "os.chdir" else _allowed(where, write)
        return None if inside else ("filesystem", access + " " + where, where, write, True)

    def decide(
        event: str,
        args: tuple[Any, ...],
        _type: Any = type,
        _str: Any = str,
        _int: Any = int,
        _len: Any = len,
        _text: Any = text,
        _path_text: Any = path_text,
        _resolve: Any = resolve,
        _allowed: Any = allowed,
        _under: Any = under,
        _file_verdict: Any = file_verdict,
        _row: Any = row,
        _files: Any = file_table,
        _network: Any = network_table,
        _process: Any = PROCESS_EVENTS,
        _interpreter: Any = INTERPRETER_EVENTS,
        _python: Any = python_dirs,
        _blas: Any = BLAS_SYMBOLS,
        _write_flags: Any = write_flags,
        _replaced: Any = replaced,
        _fcode: Any = types.FunctionType.__dict__["__code__"].__get__,
        _functype: Any = types.FunctionType,
        _ours: Any = frozenset(),
    ) -> Verdict | None:
        """Why an event is refused or recorded (kind, detail, target, write, refuse), or None."""
        if event == "open":
            mode, flags = args[1], args[2]
            write = False
            if _type(mode) is _str:
                for c in "wax+":
                    write = write or c in mode
            if _type(flags) is _int and (flags & _write_flags) != 0:
                write = True
            return _file_verdict(event, args[0], write)
        spec = _row(_files, event)
        if spec is not None:
            reads, writes, dir_at = spec
            dir_fd = args[dir_at] if 0 <= dir_at < _len(args) else None
            if event == "os.symlink":  # it must point inside, resolved from the link's directory
                link, target = _path_text(args[1]), _path_text(args[0])
                if link is None or target is None:
                    return ("filesystem", "symlink to a path object", "", True, True)
                if not target.startswith("/"):
                    target = (_resolve(link, dir_fd).rpartition("/")[0] or "") + "/" + target
                pointed = _resolve(target)
                if not _allowed(pointed, True):
                    return ("filesystem", "symlink to " + pointed, pointed, True, True)
            for at in reads + writes:
                if at < _len(args):
                    if dir_at == -2:
                        dir_fd = args[2 + at] if 2 + at < _len(args) else None
                    found = _file_verdict(event, args[at], at in writes, dir_fd)
                    if found is not None:
                        return found
            return None
        if event == "socket.__new__":  # only IP sockets: the kernel refuses the rest as well
            family = args[1] if _len(args) > 1 else None
            if _type(family) is _int and family != 2 and family != 10 and family != -1:
                shown = _text(family)
                return ("network", "open a socket of family " + shown, "", False, True)
            return None
        where_at = _row(_network, event)
        if where_at is not None:
            address = ""
            for i in where_at:
                if i < _len(args) and args[i] is not None:
                    address += (":" if address else "") + _text(args[i])
            return ("network", "reach " + address, address, False, True)
        if event in _process:
            shown = ""
            for value in args[:2]:
                if value is not None:
                    shown += (" " if shown else "") + _text(value)
            return ("process", shown or event.rpartition(".")[2], "", False, True)
        if event in _interpreter:
            return ("interpreter", event.rpartition(".")[2], "", False, True)
        if event == "ctypes.dlopen":
            if args[0] is None:  # the handle of the program itself: harmless until a look-up
                return None
            given = _path_text(args[0])
            if given is not None and given.startswith("/") and _under(_resolve(given), _python):
                return None
            return ("process", "load " + _text(args[0]), "", False, True)
        if event == "ctypes.dlsym":
            name = _text(args[1])
            if name.startswith(_blas):
                return None
            return ("process", "look up " + name, "", False, True)
        if event == "object.__setattr__":
            target, name = args[0], args[1]
            if _type(target) is _functype and _fcode(target) in _ours:
                return ("interpreter", "change the sandbox's " + name, "", False, True)
            return None
        if event == "import" and args[0] in _replaced:
            return ("interpreter", "re-import " + _text(args[0]), "", False, True)
        return None

    def record(
        fields: tuple[str, ...],
        _fd: Any = fd,
        _pipe: Any = pipe_id,
        _fstat: Any = posix.fstat,
        _write: Any = posix.write,
        _repr: Any = repr,
        _len: Any = len,
        _Error: Any = BaseException,
    ) -> None:
        """One record on the channel (one write, under ``PIPE_BUF``: never interleaved), if the
        descriptor is still the pipe the parent gave."""
        try:
            now = _fstat(_fd)
            if (now.st_dev, now.st_ino) == _pipe:
                line = ("\x1e" + _repr(fields) + "\n").encode("utf-8", "surrogateescape")
                if _len(line) < 4000:
                    _write(_fd, line)
        except _Error:
            pass

    def attach(
        action: Any,
        name: Any,
        _a: Any = None,
        _b: Any = None,
        _c: Any = None,
        _type: Any = type,
        _str: Any = str,
        _resolve: Any = resolve,
        _allowed: Any = allowed,
        _record: Any = record,
        _attach: Any = SQLITE_ATTACH,
        _deny: Any = SQLITE_DENY,
    ) -> int:
        """SQLite's authorizer on every connection: ``ATTACH`` (and ``VACUUM INTO``, which
        attaches its target) of a file outside the directory is refused and recorded; SQLite
        opens such files in C, where no audit event sees them."""
        if action != _attach or _type(name) is not _str or name == "" or name == ":memory:":
            return 0
        if name.startswith("file:"):
            name = name[5:].partition("?")[0]
        where = _resolve(name)
        if _allowed(where, True):
            return 0
        _record(("filesystem", "sqlite3.attach", "write " + where, where, "w"))
        return _deny

    def act(
        event: str,
        verdict: Verdict,
        _record: Any = record,
        _len: Any = len,
        _Refused: Any = PermissionError,
    ) -> None:
        """Record a verdict on `event` (bounded, so a record stays one atomic write) and raise
        if it refuses."""
        kind, detail, target, write, refused = verdict
        if _len(detail) > 500:
            detail = detail[:500] + "..."
        if _len(target) > 1000:
            target = target[:1000] + "..."
        _record((kind, event, detail, target, "w" if write else ""))
        if refused:
            raise _Refused("sandbox: " + event + " refused (" + kind + ": " + detail + ")")

    def hook(
        event: str,
        args: tuple[Any, ...],
        _decide: Any = decide,
        _act: Any = act,
        _record: Any = record,
        _len: Any = len,
        _watched: Any = frozenset(
            {
                "open",
                "socket.__new__",
                "ctypes.dlopen",
                "ctypes.dlsym",
                "object.__setattr__",
                "import",
                *FILE_EVENTS,
                *NETWORK_EVENTS,
                *PROCESS_EVENTS,
                *INTERPRETER_EVENTS,
            }
        ),
        _Error: Any = BaseException,
        _Refused: Any = PermissionError,
    ) -> None:
        """The audit hook: refuse and record, record honeypot touches, let the rest pass."""
        if event not in _watched:
            return
        try:
            verdict = _decide(event, args)
        except _Error:
            verdict = ("interpreter", "the sandbox could not check this call", "", False, True)
        if verdict is not None:
            _act(event, verdict)

    def fork_exec(
        *args: Any, _record: Any = record, _Refused: Any = PermissionError, **kwargs: Any
    ) -> NoReturn:
        """Stands in for ``_posixsubprocess.fork_exec`` (which raises no audit event)."""
        _record(("process", "_posixsubprocess.fork_exec", "start a program", "", ""))
        raise _Refused("sandbox: starting a program is refused")

    def connect(
        database: Any,
        timeout: Any = 5.0,
        detect_types: Any = 0,
        isolation_level: Any = "DEFERRED",
        check_same_thread: Any = True,
        factory: Any = None,
        cached_statements: Any = 128,
        uri: Any = False,
        _real: Any = None,
        _attach: Any = attach,
    ) -> Any:
        """Stands in for ``sqlite3.connect``: the connection it returns has :func:`attach` as
        its authorizer (the audit event of a new connection comes before it can take one)."""
        con = _real(
            database,
            timeout=timeout,
            detect_types=detect_types,
            isolation_level=isolation_level,
            check_same_thread=check_same_thread,
            cached_statements=cached_statements,
            uri=uri,
            **({} if factory is None else {"factory": factory}),
        )
        con.set_authorizer(_attach)
        return con

    def os_open(
        path: Any,
        flags: Any,
        mode: Any = 0o777,
        dir_fd: Any = None,
        _real: Any = posix.open,
        _file_verdict: Any = file_verdict,
        _act: Any = act,
        _type: Any = type,
        _int: Any = int,
        _write_flags: Any = write_flags,
    ) -> Any:
        """Stands in for ``os.open``, whose audit event does not carry ``dir_fd``: a path
        relative to a descriptor is checked against the descriptor's directory first."""
        if dir_fd is None:
            return _real(path, flags, mode)
        write = _type(flags) is _int and (flags & _write_flags) != 0
        verdict = _file_verdict("open", path, write, dir_fd)
        if verdict is not None:
            _act("open", verdict)
        return _real(path, flags, mode, dir_fd=dir_fd)

    def refuse(
        _a: Any = None,
        _b: Any = None,
        _c: Any = None,
        _d: Any = None,
        _kind: Any = "process",
        _what: Any = "",
        _record: Any = record,
        _Refused: Any = PermissionError,
        **_kwargs: Any,
    ) -> NoReturn:
        """Stands in for a function that raises no audit event (:data:`STAND_INS`,
        :data:`CTYPES_STAND_INS`): :func:`_setup` makes a copy for each, with `_kind` and
        `_what` (its name) set. Extra positional arguments can change what is recorded, never
        what is done: the real function is not reachable from here."""
        _record((_kind, _what, "call " + _what, "", ""))
        raise _Refused("sandbox: " + _what + " is refused")

    def create_dynamic(
        spec: Any,
        file: Any = None,
        _record: Any = record,
        _resolve: Any = resolve,
        _under: Any = under,
        _python: Any = python_dirs,
        _plain: Any = types.SimpleNamespace,
        _load: Any = load_dynamic,
        _replaced: Any = replaced,
        _type: Any = type,
        _str: Any = str,
        _getattr: Any = getattr,
        _Refused: Any = PermissionError,
    ) -> Any:
        """Stands in for ``_imp.create_dynamic``: native modules only from Python's prefixes,
        and no fresh copy of a module the sandbox changed."""
        name, origin = _getattr(spec, "name", None), _getattr(spec, "origin", None)
        where = _resolve(origin) if _type(origin) is _str else ""
        if _type(name) is not _str or name in _replaced:
            _record(("interpreter", "import", "a fresh copy of a module", "", ""))
            raise _Refused("sandbox: a fresh copy of this module is refused")
        if not _under(where, _python):
            _record(("process", "import", "native module " + where, where, ""))
            raise _Refused("sandbox: native module " + where + " refused")
        plain = _plain(name=name, origin=where)
        return _load(plain) if file is None else _load(plain, file)

    def create_builtin(
        spec: Any,
        _record: Any = record,
        _plain: Any = types.SimpleNamespace,
        _load: Any = load_builtin,
        _replaced: Any = replaced,
        _type: Any = type,
        _str: Any = str,
        _getattr: Any = getattr,
        _Refused: Any = PermissionError,
    ) -> Any:
        """Stands in for ``_imp.create_builtin``: no fresh copy of a module the sandbox changed."""
        name = _getattr(spec, "name", None)
        if _type(name) is not _str or name in _replaced:
            _record(("interpreter", "import", "a fresh copy of a module", "", ""))
            raise _Refused("sandbox: a fresh copy of this module is refused")
        return _load(_plain(name=name))

    made: dict[str, Callable[..., Any]] = {
        "scalar": scalar,
        "text": text,
        "path_text": path_text,
        "resolve": resolve,
        "row": row,
        "under": under,
        "allowed": allowed,
        "file_verdict": file_verdict,
        "decide": decide,
        "record": record,
        "attach": attach,
        "act": act,
        "hook": hook,
        "fork_exec": fork_exec,
        "os_open": os_open,
        "connect": connect,
        "refuse": refuse,
        "create_dynamic": create_dynamic,
        "create_builtin": create_builtin,
    }
    ours = frozenset(f.__code__ for f in made.values())
    defaults = list(decide.__defaults__ or ())
    defaults[-1] = ours  # `_ours`, the last default of decide
    decide.__defaults__ = tuple(defaults)
    return made


def _setup() -> tuple[CodeType, dict[str, Any], Callable[[], None]]:
    """Apply the limits and install the hook; return the compiled code, its globals and the
    writer of the closing record."""
    import _ctypes
    import _imp
    import _posixsubprocess
    import _sqlite3  # the C module only: `sqlite3` takes its connect from here when imported
    import builtins
    import ctypes
    import json
    import os
    import posix
    import resource
    import signal
    import traceback  # noqa: F401  (imported now, for the error report of the code)
    import types

    config = json.loads(sys.stdin.readline())
    source = sys.stdin.read()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)

    # 1. Hard limits, while this process still may set them.
    cpu = int(config["cpu"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    for limit, value in (
        (resource.RLIMIT_AS, config["memory"]),
        (resource.RLIMIT_FSIZE, config["file_size"]),
        (resource.RLIMIT_NPROC, config["nproc"]),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(limit, (int(value), int(value)))
    libc = ctypes.CDLL(None, use_errno=True)
    netns = libc.unshare(0x40000000) == 0  # CLONE_NEWNET
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the parent
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    if os.geteuid() == 0:  # drop every capability (capset, version 3: all sets empty)
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)
        data = (ctypes.c_uint32 * 6)()
        libc.capset(header, data)
    workdir = os.path.realpath(config["workdir"])
    prefixes = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    python_dirs = tuple(sorted({os.path.realpath(p) for p in prefixes}))
    # The kernel's half (proctor.control._kernel, sent ahead of this file): irreversible.
    landlock = restrict_files((workdir,), python_dirs)  # type: ignore[name-defined]  # noqa: F821
    install_seccomp(keep_fd=int(config["fd"]))  # type: ignore[name-defined]  # noqa: F821

    # 2. The hook.
    pid = os.getpid()
    own = {f"/proc/{pid}/{name}" for name in ("maps", "stat", "status")}
    made = build(
        workdir,
        python_dirs,
        frozenset({*SYSTEM_FILES, *own}),
        frozenset(os.path.realpath(os.path.join(workdir, h)) for h in config["honeypots"]),
        int(config["fd"]),
    )
    _posixsubprocess.fork_exec = made["fork_exec"]
    _imp.create_dynamic = made["create_dynamic"]
    _imp.create_builtin = made["create_builtin"]
    refuse = made["refuse"]
    blank = (refuse.__defaults__ or ())[:4]

    def stand_in(kind: str, what: str) -> Callable[..., Any]:
        return types.FunctionType(
            refuse.__code__,
            {"__builtins__": {}},
            what.rpartition(".")[2],
            (*blank, kind, what, made["record"], PermissionError),
        )

    os.open = posix.open = made["os_open"]
    connect = made["connect"]
    defaults = list(connect.__defaults__ or ())
    defaults[-2] = _sqlite3.connect  # `_real`
    connect.__defaults__ = tuple(defaults)
    _sqlite3.connect = connect
    for module in (os, posix):
        for name in STAND_INS:
            if hasattr(module, name):
                kind = "filesystem" if name.startswith("mk") else "process"
                setattr(module, name, stand_in(kind, "os." + name))
    for name in CTYPES_STAND_INS:
        if hasattr(ctypes, name):
            setattr(ctypes, name, stand_in("interpreter", "ctypes." + name.lstrip("_")))
    for module in (ctypes, _ctypes):
        for name in [n for n in vars(module) if n.endswith("_addr") and n.startswith("_")]:
            setattr(module, name, 0)

    # 3. The code's world: its directory first on the path, nothing outside Python's prefixes.
    under = made["under"]
    sys.path[:] = [workdir] + [p for p in sys.path if under(os.path.realpath(p), python_dirs)]
    sys.path_importer_cache.clear()
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    sys.argv[:] = ["<run_python>"]
    code = compile(source, "<run_python>", "exec", dont_inherit=True)
    record = made["record"]
    record(("netns", "1" if netns else "0"))
    record(("kernel", str(landlock)))
    sys.addaudithook(made["hook"])
    return code, main.__dict__, lambda _record=record: _record(("end",))


def _run() -> int:
    """Set up, run the code, report an uncaught exception as Python would; the exit status."""
    try:
        code, scope, finish = _setup()
    except BaseException as err:
        sys.stderr.write(f"sandbox setup failed: {type(err).__name__}: {err}\n")
        return 70
    status = 0
    try:
        exec(code, scope)
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        if stop.code is not None and not isinstance(stop.code, int):
            sys.stderr.write(f"{stop.code}\n")
    except BaseException as err:
        import traceback

        shown = err.__traceback__.tb_next if err.__traceback__ else None
        traceback.print_exception(type(err), err, shown)
        status = 1
    finally:
        finish()
    return status


if __name__ == "__main__":
    sys.exit(_run())
