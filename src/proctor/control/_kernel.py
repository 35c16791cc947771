"""The kernel's half of the sandbox: Landlock (filesystem, TCP, signals, abstract sockets) and a
seccomp filter, applied by the child to itself before the code runs, and irreversible after.

This file holds only the standard library and ``ctypes``: the parent sends its source to the
child together with :mod:`proctor.control._child` (which cannot import proctor), and the parent
also imports it to ask, once, whether this kernel supports the sandbox (:func:`unsupported`).

**Landlock** (Salaün, Linux 5.13+; ABI versions as in ``Documentation/userspace-api/landlock.rst``)
restricts the process and every process it could start: the working directory may be read and
changed in every way; Python's prefixes, the system's libraries and a few system files may be read
(and libraries mapped executable); nothing else can be opened, created, removed, renamed, linked,
truncated or turned into a device, a FIFO or a socket, whatever the path (``..``, symbolic links,
``dir_fd``, hard links, a directory descriptor kept from before: Landlock checks the file's place
in the tree when it is opened, not the string that named it). From ABI 4 no TCP port can be bound
or connected; from ABI 6 no signal reaches a process outside the sandbox and no abstract UNIX
socket outside it can be reached. These hold for root too: Landlock does not look at permissions.

**seccomp** (a classic BPF filter, ``SECCOMP_MODE_FILTER``): system calls that analysis code never
needs fail with ``EPERM`` — new sockets, devices and FIFOs (``mknod``), mounts and namespaces,
``setsid``/``setpgid`` (which would leave the process group the parent kills), new programs
(``execve``), new processes (``fork``, ``vfork``, ``clone`` without ``CLONE_THREAD``; ``clone3``
answers ``ENOSYS`` so that the C library falls back to ``clone``, whose flags the filter can read),
``ptrace`` and cross-process memory, ``io_uring`` (which would do file work outside the filter's
view), kernel modules, keys, BPF, ``perf_event_open``, file handles, identity changes. A call made
through another system-call ABI (32-bit, x32) kills the process. Written for x86-64; elsewhere
:func:`unsupported` says so and the sandbox does not run.

Neither step records anything: the kernel refuses silently (``EACCES``, ``EPERM``, ``EROFS``). The
audit hook of :mod:`proctor.control._child` records what passes through Python; these steps make
sure that what gets past the hook still changes nothing outside.
"""

import ctypes
import os
import struct

# --- Landlock ---------------------------------------------------------------------------------
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same number on every arch
_VERSION = 1  # LANDLOCK_CREATE_RULESET_VERSION
_PATH_BENEATH = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1, 2, 4, 8
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 16, 32, 64, 128
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 256, 512, 1024, 2048, 4096
REFER, TRUNCATE, IOCTL_DEV = 8192, 16384, 32768
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
"""The rights Landlock lets a rule on a single file (not a directory) carry."""
READ = EXECUTE | READ_FILE | READ_DIR

SYSTEM_READ_DIRS = ("/usr", "/lib", "/lib64", "/sys/devices/system/cpu", "/sys/fs/cgroup", "/proc")
"""Directories outside Python's prefixes that may be read: shared libraries, CPU counts and
cgroup limits (OpenBLAS, threadpoolctl), and ``/proc`` (Landlock also keeps other processes'
entries out of reach: it refuses ptrace-like access to any process outside the sandbox)."""
SYSTEM_READ_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/dev/urandom", "/dev/zero")
"""Single files that may be read (the dynamic loader's cache, the time zone, random bytes)."""
SYSTEM_WRITE_FILES = ("/dev/null",)


def _fs_rights(abi: int) -> int:
    rights = (MAKE_SYM << 1) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is missing or switched off."""
    found = int(
        _libc().syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_VERSION))
    )
    return max(found, 0)


def restrict_files(
    writable: tuple[str, ...], readable: tuple[str, ...], abi: int | None = None
) -> int:
    """Apply Landlock to this process: `writable` directories with every right, `readable`
    directories (and files) read-only, the system's read-only set, TCP and signals closed where
    the ABI allows. Returns the ABI used; raises OSError when the kernel refuses."""
    libc = _libc()
    abi = landlock_abi() if abi is None else abi
    if abi < 1:
        raise OSError("Landlock is not available in this kernel")
    handled_fs = _fs_rights(abi)
    fields = [handled_fs]
    if abi >= 4:
        fields.append(1 | 2)  # LANDLOCK_ACCESS_NET_BIND_TCP | CONNECT_TCP, with no port allowed
    if abi >= 6:
        fields += [0] * (2 - len(fields)) + [1 | 2]  # SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
    attr = struct.pack(f"={len(fields)}Q", *fields)
    ruleset = int(
        libc.syscall(_CREATE_RULESET, ctypes.c_char_p(attr), ctypes.c_size_t(len(attr)), 0)
    )
    if ruleset < 0:
        raise OSError(
            ctypes.get_errno(), "landlock_create_ruleset: " + os.strerror(ctypes.get_errno())
        )
    try:
        rules: list[tuple[str, int]] = [(d, handled_fs) for d in writable]
        rules += [(p, READ) for p in (*readable, *SYSTEM_READ_DIRS, *SYSTEM_READ_FILES)]
        rules += [
            (p, READ_FILE | WRITE_FILE | (TRUNCATE if abi >= 3 else 0)) for p in SYSTEM_WRITE_FILES
        ]
        for path, rights in rules:
            _add_rule(libc, ruleset, path, rights)
        if int(libc.syscall(_RESTRICT_SELF, ruleset, 0)) < 0:
            err = ctypes.get_errno()
            raise OSError(err, "landlock_restrict_self: " + os.strerror(err))
    finally:
        os.close(ruleset)
    return abi


def _add_rule(libc: ctypes.CDLL, ruleset: int, path: str, rights: int) -> None:
    """One path-beneath rule; a path that does not exist is left out (nothing to reach)."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS
        rule = struct.pack("=Qi", rights, fd)  # struct landlock_path_beneath_attr (packed)
        if int(libc.syscall(_ADD_RULE, ruleset, _PATH_BENEATH, ctypes.c_char_p(rule), 0)) < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"landlock_add_rule {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


# --- seccomp ------------------------------------------------------------------------------------
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_BIT = 0x40000000
_CLONE, _CLONE3, _SOCKET = 56, 435, 41
_AF_INET, _AF_INET6 = 2, 10
_CLOSE, _DUP2, _DUP3 = 3, 33, 292
_CLONE_THREAD = 0x00010000
DENIED_X86_64: dict[str, int] = {
    "socketpair": 53, "fork": 57, "vfork": 58, "execve": 59, "ptrace": 101,
    "setuid": 105, "setgid": 106, "setpgid": 109, "setsid": 112, "setreuid": 113,
    "setregid": 114, "setresuid": 117, "setresgid": 119, "setfsuid": 122, "setfsgid": 123,
    "mknod": 133, "personality": 135, "pivot_root": 155, "adjtimex": 159, "chroot": 161,
    "acct": 163, "settimeofday": 164, "mount": 165, "umount2": 166, "swapon": 167,
    "swapoff": 168, "reboot": 169, "sethostname": 170, "setdomainname": 171, "iopl": 172,
    "ioperm": 173, "init_module": 175, "delete_module": 176, "quotactl": 179,
    "clock_settime": 227, "kexec_load": 246, "add_key": 248, "request_key": 249,
    "keyctl": 250, "mknodat": 259, "unshare": 272, "perf_event_open": 298,
    "fanotify_init": 300, "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "finit_module": 313,
    "kexec_file_load": 320, "bpf": 321, "execveat": 322, "userfaultfd": 323,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
    "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "close_range": 436, "pidfd_getfd": 438, "mount_setattr": 442,
}  # fmt: skip
"""System calls refused with ``EPERM`` (x86-64 numbers)."""

_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _JA, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x05, 0x06
_ALLOW, _KILL, _ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_EPERM, _ENOSYS = 1, 38


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def seccomp_program(denied: dict[str, int] = DENIED_X86_64, keep_fd: int = -1) -> bytes:
    """The filter, as the kernel's ``struct sock_filter`` array (see the module docstring).
    `keep_fd` (the record channel) can be neither closed nor replaced: ``close`` of it and
    ``dup2``/``dup3`` onto it fail with ``EPERM`` (``close_range`` always does)."""
    numbers = sorted(set(denied.values()))
    n = len(numbers)
    prog = [
        _insn(_LD_W_ABS, 4),  # seccomp_data.arch
        _insn(_JEQ_K, _AUDIT_ARCH_X86_64, 1, 0),
        _insn(_RET_K, _KILL),
        _insn(_LD_W_ABS, 0),  # seccomp_data.nr
        _insn(_JGE_K, _X32_BIT, 0, 1),
        _insn(_RET_K, _KILL),
        _insn(_JEQ_K, _CLONE, 0, 4),
        _insn(_LD_W_ABS, 16),  # args[0], low 32 bits: clone's flags
        _insn(_JSET_K, _CLONE_THREAD, 0, 1),
        _insn(_RET_K, _ALLOW),
        _insn(_RET_K, _ERRNO | _EPERM),
        _insn(_LD_W_ABS, 0),
        _insn(_JEQ_K, _CLONE3, 0, 1),
        _insn(_RET_K, _ERRNO | _ENOSYS),
        _insn(_JEQ_K, _SOCKET, 0, 6),
        _insn(_LD_W_ABS, 16),  # args[0]: the address family
        _insn(_JEQ_K, _AF_INET, 2, 0),
        _insn(_JEQ_K, _AF_INET6, 1, 0),
        _insn(_RET_K, _ERRNO | _EPERM),
        _insn(_RET_K, _ALLOW),
        _insn(_LD_W_ABS, 0),
    ]
    if keep_fd >= 0:
        prog += [
            _insn(_JEQ_K, _CLOSE, 0, 3),
            _insn(_LD_W_ABS, 16),  # args[0]: the descriptor closed
            _insn(_JEQ_K, keep_fd, 7, 0),
            _insn(_LD_W_ABS, 0),
            _insn(_JEQ_K, _DUP2, 1, 0),
            _insn(_JEQ_K, _DUP3, 0, 5),
            _insn(_LD_W_ABS, 24),  # args[1]: the descriptor replaced
            _insn(_JEQ_K, keep_fd, 2, 0),
            _insn(_LD_W_ABS, 0),
            _insn(_JA, 1),
            _insn(_RET_K, _ERRNO | _EPERM),
        ]
    prog += [_insn(_JEQ_K, nr, n - i, 0) for i, nr in enumerate(numbers)]
    prog += [_insn(_RET_K, _ALLOW), _insn(_RET_K, _ERRNO | _EPERM)]
    return b"".join(prog)


def install_seccomp(program: bytes | None = None, keep_fd: int = -1) -> None:
    """Load the filter into this process (no-new-privileges is set first). Raises OSError."""
    if os.uname().machine != "x86_64":
        raise OSError(f"the seccomp filter is written for x86-64, not {os.uname().machine}")
    libc = _libc()
    program = seccomp_program(keep_fd=keep_fd) if program is None else program
    count = len(program) // 8
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("=HxxxxxxQ", count, ctypes.addressof(buf))  # struct sock_fprog
    fprog_buf = ctypes.create_string_buffer(fprog, len(fprog))
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        err = ctypes.get_errno()
        raise OSError(err, "prctl(PR_SET_NO_NEW_PRIVS): " + os.strerror(err))
    if libc.prctl(22, 2, fprog_buf, 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        err = ctypes.get_errno()
        raise OSError(err, "prctl(PR_SET_SECCOMP): " + os.strerror(err))


def unsupported() -> str | None:
    """Why this machine cannot run the sandbox (one line), or None when it can."""
    import sys

    if not sys.platform.startswith("linux"):
        return f"the sandbox needs Linux (Landlock and seccomp), not {sys.platform}"
    if os.uname().machine != "x86_64":
        return f"the sandbox's seccomp filter is written for x86-64, not {os.uname().machine}"
    abi = landlock_abi()
    if abi < 1:
        return (
            "the sandbox needs Landlock (Linux 5.13+, with 'landlock' in the kernel's lsm= list); "
            "this kernel has none"
        )
    return None
