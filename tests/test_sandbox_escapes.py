"""The escape catalogue: every way out of :func:`proctor.control.run_sandboxed` we know of, each
run in a fresh sandbox and held to three things — the attempt is **refused** (it does not get
to print ``ESCAPED``), it is **recorded** (a violation of the expected kind, or a honeypot touch,
is in the result), and **nothing outside changed** (a tree of files beside the sandbox, hashed
before and after, and marker names in the temporary directory and Python's prefix).

It holds the attempts of the probe that opened issue 19 (``os.mknod``/``os.mkfifo`` outside,
SQLite ``ATTACH``/``VACUUM INTO``, mutating the hook's tables through a read-only mapping, a
``dir_fd`` of Python's prefix, a honeypot read after flooding the record channel) and the
limits the sandbox's docstring named (``ctypes``' memory helpers, ``setsid``). The limits that
remain are tested apart, at the end, for what they still guarantee.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from proctor.control import Limits, _records, run_sandboxed, sandbox

pytestmark = pytest.mark.skipif(
    sandbox.unsupported() is not None and not os.environ.get("PROCTOR_REQUIRE_SERVICES"),
    reason=f"no sandbox here: {sandbox.unsupported()}",
)
"""Skipped only where the kernel cannot hold the boundary, and never in CI (which sets
``PROCTOR_REQUIRE_SERVICES``: there a missing boundary is a failure)."""

TOKEN = "escape" + uuid.uuid4().hex[:10]
"""In the name of every file an attempt tries to make in /tmp or Python's prefix."""
PREFIX = os.path.realpath(sys.prefix)
FILES = {"mine": "mine\n", "secret.csv": "label\n1\n", "sub/inner.txt": "in\n"}
LIMITS = Limits(cpu_seconds=5, wall_seconds=30)

FS, PROC, NET, INTERP, HONEY = "filesystem", "process", "network", "interpreter", "honeypot"

# name -> (kinds of which one must be recorded; the attempt, which raises when refused)
ATTEMPTS: dict[str, tuple[set[str], str]] = {
    # -- writing outside through Python's file API
    "open for writing": ({FS}, "open(OUT + '/new.txt', 'w').write('x')"),
    "open for appending": ({FS}, "open(OUT + '/keep.txt', 'a').write('x')"),
    "open read-write": ({FS}, "open(OUT + '/keep.txt', 'r+').write('x')"),
    "os.open O_CREAT": ({FS}, "os.open(OUT + '/new.txt', os.O_CREAT | os.O_WRONLY)"),
    "os.open O_TRUNC": ({FS}, "os.open(OUT + '/keep.txt', os.O_WRONLY | os.O_TRUNC)"),
    "relative path with ..": ({FS}, "open('../' + TOKEN, 'w')"),
    "io.FileIO": ({FS}, "import io\nio.FileIO(OUT + '/new.txt', 'w')"),
    "pathlib write_text": ({FS}, "import pathlib\npathlib.Path(OUT, 'new.txt').write_text('x')"),
    "codecs.open": ({FS}, "import codecs\ncodecs.open(OUT + '/new.txt', 'w').write('x')"),
    "write into Python's prefix": ({FS}, "open(PREFIX + '/' + TOKEN, 'w')"),
    "write into /tmp": ({FS}, "open('/tmp/' + TOKEN, 'w')"),
    "through /proc/self/fd": (
        {FS},
        "fd = os.open('.', os.O_RDONLY)\nopen('/proc/self/fd/%d/../%s' % (fd, TOKEN), 'w')",
    ),
    "dir_fd of Python's prefix (the probe)": (
        {FS},
        "fd = os.open(PREFIX, os.O_RDONLY | os.O_DIRECTORY)\n"
        "os.open('written_via_dirfd_' + TOKEN, os.O_CREAT | os.O_WRONLY, dir_fd=fd)",
    ),
    "dir_fd and a planted symlink": (
        {FS},
        "os.symlink('sub', 'planted')\n"
        "fd = os.open(PREFIX, os.O_RDONLY | os.O_DIRECTORY)\n"
        "os.mkdir('lib_' + TOKEN, dir_fd=fd)",
    ),
    # -- changing what is outside
    "os.mkdir": ({FS}, "os.mkdir(OUT + '/made')"),
    "os.makedirs": ({FS}, "os.makedirs(OUT + '/a/b')"),
    "os.rename out": ({FS}, "os.rename('mine', OUT + '/moved')"),
    "os.rename in": ({FS}, "os.rename(OUT + '/keep.txt', 'stolen')"),
    "os.replace": ({FS}, "os.replace('mine', OUT + '/keep.txt')"),
    "os.remove": ({FS}, "os.remove(OUT + '/keep.txt')"),
    "os.unlink": ({FS}, "os.unlink(OUT + '/sub/inner.txt')"),
    "os.rmdir": ({FS}, "os.rmdir(OUT + '/empty')"),
    "shutil.rmtree": ({FS}, "import shutil\nshutil.rmtree(OUT + '/sub')"),
    "shutil.copy": ({FS}, "import shutil\nshutil.copy('mine', OUT + '/copy')"),
    "shutil.move": ({FS}, "import shutil\nshutil.move('mine', OUT + '/moved')"),
    "os.link out": ({FS}, "os.link('mine', OUT + '/hard')"),
    "os.link in": ({FS}, "os.link(OUT + '/keep.txt', 'hard')"),
    "os.symlink to outside": ({FS}, "os.symlink(OUT, 'out')"),
    "os.symlink to ..": ({FS}, "os.symlink('..', 'up')"),
    "os.chmod": ({FS}, "os.chmod(OUT + '/keep.txt', 0o777)"),
    "os.chown": ({FS}, "os.chown(OUT + '/keep.txt', 1, 1)"),
    "os.utime": ({FS}, "os.utime(OUT + '/keep.txt', (0, 0))"),
    "os.truncate": ({FS}, "os.truncate(OUT + '/keep.txt', 0)"),
    "os.setxattr": ({FS}, "os.setxattr(OUT + '/keep.txt', 'user.x', b'1')"),
    "os.removexattr": ({FS}, "os.removexattr(OUT + '/keep.txt', 'user.x')"),
    "tempfile.mkstemp elsewhere": ({FS}, "import tempfile\ntempfile.mkstemp(dir=OUT)"),
    "tempfile.mkdtemp elsewhere": ({FS}, "import tempfile\ntempfile.mkdtemp(dir=OUT)"),
    "os.chdir out": ({FS}, "os.chdir(OUT)"),
    "os.fchdir to the prefix": ({FS}, "os.fchdir(os.open(PREFIX, os.O_RDONLY))"),
    "os.mknod outside (the probe)": ({FS}, "os.mknod(OUT + '/node')"),
    "os.mkfifo outside (the probe)": ({FS}, "os.mkfifo(OUT + '/fifo')"),
    "posix.mknod": ({FS}, "import posix\nposix.mknod(OUT + '/node')"),
    # -- SQLite, whose C code opens files no audit event sees
    "SQLite connect outside": ({FS}, "import sqlite3\nsqlite3.connect(OUT + '/db.sqlite')"),
    "SQLite ATTACH (the probe)": (
        {FS},
        "import sqlite3\ncon = sqlite3.connect(':memory:')\n"
        "con.execute(\"attach database '%s/att.db' as a\" % OUT)\n"
        "con.execute('create table a.t(x)')",
    ),
    "SQLite VACUUM INTO (the probe)": (
        {FS},
        "import sqlite3\ncon = sqlite3.connect('local.db')\ncon.execute('create table t(x)')\n"
        "con.execute(\"vacuum into '%s/copy.db'\" % OUT)",
    ),
    "SQLite ATTACH by URI": (
        {FS},
        "import sqlite3\ncon = sqlite3.connect('file:local.db', uri=True)\n"
        "con.execute(\"attach 'file:%s/uri.db?mode=rwc' as u\" % OUT)\n"
        "con.execute('create table u.t(x)')",
    ),
    # -- the hook's own state
    "mutate the hook's tables (the probe)": (
        {FS},
        "import gc\n"
        "found = []\n"
        "try:\n"
        "    open('/etc/hostname')\n"
        "except PermissionError as err:\n"
        "    tb = err.__traceback__\n"
        "    while tb is not None:\n"
        "        found += [v for v in tb.tb_frame.f_locals.values() if callable(v)]\n"
        "        tb = tb.tb_next\n"
        "class Grab(dict):\n"
        "    def __eq__(self, other):\n"
        "        if isinstance(other, dict):\n"
        "            other.clear()\n"
        "        return False\n"
        "    __hash__ = None\n"
        "for f in found:\n"
        "    for d in getattr(f, '__defaults__', None) or ():\n"
        "        if type(d).__name__ == 'mappingproxy':\n"
        "            d == Grab()\n"
        "        elif isinstance(d, (dict, list, set)):\n"
        "            d.clear()\n"
        "os.rename('mine', OUT + '/renamed')",
    ),
    "replace the hook's defaults": (
        {INTERP},
        "try:\n"
        "    open('/etc/hostname')\n"
        "except PermissionError as err:\n"
        "    tb = err.__traceback__\n"
        "    while '_decide' not in tb.tb_frame.f_locals:\n"
        "        tb = tb.tb_next\n"
        "    hook = tb.tb_frame.f_locals['_decide']\n"
        "    hook.__defaults__ = tuple(None for _ in hook.__defaults__)",
    ),
    "gc.get_objects": ({INTERP}, "import gc\ngc.get_objects()"),
    "gc.get_referrers": ({INTERP}, "import gc\ngc.get_referrers(os)"),
    "sys._current_frames": ({INTERP}, "sys._current_frames()"),
    "a fresh posix (the real mknod)": (
        {INTERP},
        "del sys.modules['posix']\nimport posix\nposix.mknod(OUT + '/node')",
    ),
    "a fresh _sqlite3 (the real connect)": (
        {INTERP},
        "del sys.modules['_sqlite3']\nimport _sqlite3",
    ),
    "a fresh _ctypes (the real memmove)": ({INTERP}, "del sys.modules['_ctypes']\nimport _ctypes"),
    "a fresh _posixsubprocess": (
        {INTERP},
        "del sys.modules['_posixsubprocess']\nimport _posixsubprocess",
    ),
    # -- ctypes
    "ctypes: libc's open": (
        {PROC},
        "import ctypes\nctypes.CDLL(None).open(OUT.encode() + b'/c', 65)",
    ),
    "ctypes: load libc by name": ({PROC}, "import ctypes\nctypes.CDLL('libc.so.6')"),
    "ctypes: pythonapi": ({PROC}, "import ctypes\nctypes.pythonapi.PyRun_SimpleString(b'1')"),
    "ctypes: syscall": (
        {PROC},
        "import ctypes\nctypes.CDLL(None).syscall(133, OUT.encode(), 0, 0)",
    ),
    "ctypes: memmove (the docstring's limit)": (
        {INTERP},
        "import ctypes\nb = ctypes.create_string_buffer(8)\nctypes.memmove(id(os), b, 8)",
    ),
    "ctypes: memset": ({INTERP}, "import ctypes\nctypes.memset(id(os), 0, 8)"),
    "ctypes: string_at": ({INTERP}, "import ctypes\nctypes.string_at(id(os), 64)"),
    "ctypes: from_address": ({PROC}, "import ctypes\nctypes.c_char.from_address(id(os))"),
    "ctypes: from_buffer": (
        {INTERP},
        "import ctypes\nctypes.c_void_p.from_buffer(bytearray(8))",
    ),
    # -- processes and signals
    "subprocess.run": ({PROC}, "import subprocess\nsubprocess.run(['touch', OUT + '/p'])"),
    "os.system": ({PROC}, "os.system('touch ' + OUT + '/p')"),
    "os.fork": ({PROC}, "os.fork()"),
    "os.posix_spawn": ({PROC}, "os.posix_spawn('/bin/touch', ['touch', OUT + '/p'], {})"),
    "os.execv": ({PROC}, "os.execv('/bin/touch', ['touch', OUT + '/p'])"),
    "multiprocessing": (
        {PROC},
        "import multiprocessing as mp\np = mp.get_context('fork').Process(target=print)\np.start()",
    ),
    "os.setsid (the docstring's limit)": ({PROC}, "os.setsid()"),
    "os.setpgid": ({PROC}, "os.setpgid(0, 0)"),
    "os.setpgrp": ({PROC}, "os.setpgrp()"),
    "kill the parent": ({PROC}, "import signal\nos.kill(os.getppid(), signal.SIGTERM)"),
    "raise a hard limit": (
        {PROC},
        "import resource\nresource.setrlimit(resource.RLIMIT_CPU, (10**6, 10**6))",
    ),
    "native module from the directory": (
        {PROC},
        "open('evil.cpython-311-x86_64-linux-gnu.so', 'wb').write(b'\\x7fELF')\n"
        "sys.path.insert(0, '.')\nimport evil",
    ),
    # -- network
    "TCP connect": ({NET}, "import socket\nsocket.create_connection(('127.0.0.1', 5432), 1)"),
    "UDP sendto": (
        {NET},
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "s.sendto(b'x', ('1.1.1.1', 53))",
    ),
    "UNIX socket": (
        {NET},
        "import socket\nsocket.socket(socket.AF_UNIX).connect('/run/postgresql/.s.PGSQL.5432')",
    ),
    "netlink socket": (
        {NET},
        "import socket\nsocket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)",
    ),
    "name lookup": ({NET}, "import socket\nsocket.getaddrinfo('example.com', 443)"),
    "urllib": ({NET}, "import urllib.request\nurllib.request.urlopen('http://example.com/')"),
    # -- reading what is not the task's
    "read /etc/shadow": ({FS}, "open('/etc/shadow').read()"),
    "read the parent's environment": ({FS}, "open('/proc/%d/environ' % os.getppid()).read()"),
    "list the parent's directory": ({FS}, "os.listdir(OUT)"),
    # -- the recorder itself: honeypot touches must be seen whatever the code did first
    "honeypot after a flood (the probe)": (
        {HONEY},
        "for _ in range(3000):\n"
        "    try:\n"
        "        open('/etc/hostname')\n"
        "    except PermissionError:\n"
        "        pass\n"
        "open('secret.csv').read()\n"
        "raise SystemExit(3)",
    ),
    "honeypot after closing every descriptor": (
        {HONEY},
        "os.closerange(3, 1024)\nopen('secret.csv').read()\nraise SystemExit(3)",
    ),
    "honeypot through a hard link": (
        {HONEY},
        "os.link('secret.csv', 'alias')\nopen('alias').read()\nraise SystemExit(3)",
    ),
    "honeypot through a symlink": (
        {HONEY},
        "os.symlink('secret.csv', 'alias')\nopen('alias').read()\nraise SystemExit(3)",
    ),
    "junk on the record channel, then a write": (
        {FS},
        "for fd in range(3, 64):\n"
        "    try:\n"
        "        os.write(fd, b'(\\x1e')\n"
        "    except OSError:\n"
        "        pass\n"
        "open(OUT + '/new.txt', 'w')",
    ),
}

if hasattr(sqlite3.Connection, "enable_load_extension"):  # not every Python is built with it
    ATTEMPTS["SQLite load_extension"] = (
        {PROC},
        "import sqlite3\ncon = sqlite3.connect(':memory:')\ncon.enable_load_extension(True)",
    )


def _tree(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under `root`: mode, size, modification time and content (links unfollowed)."""
    state: dict[str, tuple[object, ...]] = {}
    for folder, dirs, names in os.walk(root, followlinks=False):
        for name in sorted(dirs + names):
            path = Path(folder, name)
            info = path.lstat()
            body: object = None
            if path.is_symlink():
                body = os.readlink(path)
            elif path.is_file():
                body = hashlib.sha256(path.read_bytes()).hexdigest()
            state[str(path.relative_to(root))] = (
                info.st_mode,
                info.st_size,
                info.st_mtime_ns,
                body,
            )
    return state


def _marked() -> list[str]:
    """Files anywhere we looked whose name carries the token (none may exist)."""
    found = []
    for folder in ("/tmp", PREFIX, os.path.join(PREFIX, "lib")):
        found += [n for n in os.listdir(folder) if TOKEN in n]
    return found


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    (out / "sub").mkdir(parents=True)
    (out / "empty").mkdir()
    (out / "keep.txt").write_text("keep\n")
    (out / "sub" / "inner.txt").write_text("inner\n")
    return out


def _script(attack: str, out: Path) -> str:
    return (
        f"import os, sys\nOUT = {str(out)!r}\nPREFIX = {PREFIX!r}\nTOKEN = {TOKEN!r}\n"
        "try:\n" + textwrap.indent(attack, "    ") + "\n    print('ESCAPED')\n"
        "except SystemExit:\n"
        "    raise\n"
        "except BaseException as err:\n"
        "    print('REFUSED', type(err).__name__)\n"
    )


def test_the_catalogue_has_the_probe_s_attempts_and_at_least_sixty() -> None:
    assert len(ATTEMPTS) >= 60
    assert sum("(the probe)" in name for name in ATTEMPTS) >= 7
    assert sum("(the docstring's limit)" in name for name in ATTEMPTS) >= 2


@pytest.mark.parametrize("name", list(ATTEMPTS))
def test_every_escape_is_refused_recorded_and_changes_nothing_outside(
    name: str, outside: Path
) -> None:
    expected, attack = ATTEMPTS[name]
    before, marked = _tree(outside), _marked()
    result = run_sandboxed(_script(attack, outside), FILES, LIMITS, honeypots=["secret.csv"])
    assert "ESCAPED" not in result.stdout, (name, result.stdout, result.stderr[-800:])
    if HONEY in expected:  # the read is allowed (it is the bait); the code then stops
        assert result.exit_code == 3, (name, result.stderr[-800:])
    else:
        assert "REFUSED" in result.stdout, (name, result.stdout, result.stderr[-800:])
    assert {v.kind for v in result.violations} & expected, (name, result.violations)
    assert _tree(outside) == before, name
    assert _marked() == marked, name


def test_a_flood_cannot_push_out_the_honeypot_and_is_counted() -> None:
    result = run_sandboxed(
        _script(ATTEMPTS["honeypot after a flood (the probe)"][1], Path("/nonexistent")),
        FILES,
        Limits(cpu_seconds=5, wall_seconds=30, max_violations=50),
        honeypots=["secret.csv"],
    )
    touches = [v for v in result.violations if v.kind == HONEY]
    assert [v.target for v in touches] == ["secret.csv"]
    assert sum(v.kind == FS for v in result.violations) == 50
    assert result.dropped == 3000 - 50


def test_the_parent_watches_the_honeypots_itself(tmp_path: Path) -> None:
    """The parent's own watch (inotify) sees every open of a honeypot by any process, whatever
    that process did to its hook or its record channel."""
    import subprocess

    (tmp_path / "secret.csv").write_text("label\n")
    (tmp_path / "other.txt").write_text("x\n")
    watch = _records.Watch(str(tmp_path), ["secret.csv"])
    try:
        assert watch.touched() == []
        subprocess.run(["cat", str(tmp_path / "other.txt")], check=True, capture_output=True)
        assert watch.touched() == []
        subprocess.run(["cat", str(tmp_path / "secret.csv")], check=True, capture_output=True)
        assert watch.touched() == [("secret.csv", False)]
        subprocess.run(["sh", "-c", f"echo x >> {tmp_path / 'secret.csv'}"], check=True)
        assert watch.touched() == [("secret.csv", True)]
    finally:
        watch.close()


# -- what remains: guaranteed by the kernel, not always recorded -------------------------------


def test_metadata_outside_can_be_read_but_nothing_changed(outside: Path) -> None:
    """``os.stat`` raises no audit event and Landlock does not govern it: code can learn that a
    file exists outside, and its size and times. It cannot change it."""
    before = _tree(outside)
    result = run_sandboxed(
        f"import os\nprint(os.stat({str(outside / 'keep.txt')!r}).st_size)\n", FILES, LIMITS
    )
    assert result.stdout == "5\n" and not result.violations
    assert _tree(outside) == before


def test_a_symlink_race_is_refused_by_the_kernel(outside: Path) -> None:
    """A thread swaps a link between a name inside and ``..`` while the main thread writes
    through it: the hook may check the link's old target (the race the docstring names), but
    the kernel refuses every write that lands outside, recorded or not."""
    before, marked = _tree(outside), _marked()
    code = textwrap.dedent(
        f"""
        import os, threading
        os.mkdir('d')
        os.mkdir('d/e')
        os.symlink('d/e', 'link')
        stop = False
        def swap():
            while not stop:
                for target in ('d/e', 'd'):
                    try:
                        os.remove('link')
                        os.symlink(target, 'link')
                    except OSError:
                        pass
        worker = threading.Thread(target=swap)
        worker.start()
        landed = 0
        for _ in range(300):
            try:
                open('link/../../{TOKEN}', 'w').close()
                landed += 1
            except OSError:
                pass
        stop = True
        worker.join()
        print('done')
        """
    )
    result = run_sandboxed(code, FILES, LIMITS)
    assert result.stdout.strip() == "done", result.stderr[-800:]
    assert _tree(outside) == before
    assert _marked() == marked


def test_a_function_the_stand_ins_keep_is_refused_by_the_kernel(outside: Path) -> None:
    """The stand-ins for ``os.open`` and ``sqlite3.connect`` keep the real function among their
    default arguments, within reach of code that looks: called with a ``dir_fd`` of Python's
    prefix, or as a connection without the authorizer, it gets past the recorder. The kernel
    refuses it all the same."""
    before, marked = _tree(outside), _marked()
    code = textwrap.dedent(
        f"""
        import os, sqlite3
        real_open = os.open.__defaults__[2]
        fd = real_open({PREFIX!r}, os.O_RDONLY | os.O_DIRECTORY)
        try:
            real_open('x_{TOKEN}', os.O_CREAT | os.O_WRONLY, dir_fd=fd)
            print('ESCAPED')
        except PermissionError:
            print('refused by the kernel')
        con = sqlite3.connect.__defaults__[-2](':memory:')
        try:
            con.execute("attach database '{outside}/k.db' as k")
            con.execute('create table k.t(x)')
            print('ESCAPED')
        except sqlite3.OperationalError:
            print('refused by the kernel')
        """
    )
    result = run_sandboxed(code, FILES, LIMITS)
    assert result.stdout.split("\n")[:2] == ["refused by the kernel"] * 2, result.stderr[-800:]
    assert _tree(outside) == before
    assert _marked() == marked
