"""Plug-ins loaded at run time: ``proctor bench --plugin MODULE_OR_FILE`` (or ``plugins = [...]``
in the sweep file).

A plug-in is a module that registers components when imported (:mod:`proctor.registry`'s
decorators), named either by its dotted module name (importable from ``sys.path``) or by the
path of a Python file (ending ``.py``). A file is imported under a *stable* module name derived
from its resolved path (:func:`module_name`), so loading the same file twice, through another
relative path or a symlink, or once by file and once by module name, imports it once: its
classes are the same objects, and registering the same object under the same name again is a
no-op (a *different* object under a taken name still raises).

Plug-ins reach every worker that runs episodes: the bench loads the sweep's plug-ins in this
process, in each worker of the local pool (its initializer) and in each Ray worker before its
first chunk (:mod:`proctor.bench.executors`). A plug-in named by file must be readable at the
same path on every worker (true of a Ray started on this machine); one named by module must be
importable there. A sweep's plug-ins enter its identity (the run id) by their names and paths
only, not their contents: edit a plug-in and rerun the same sweep, and it resumes.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

__all__ = [
    "PREFIX",
    "PluginError",
    "is_file",
    "load_plugin",
    "load_plugins",
    "module_name",
    "normalise",
]

PREFIX = "proctor_plugin_"
"""Module names of plug-ins loaded from files begin with this."""


class PluginError(ValueError):
    """A plug-in that cannot be loaded; the message is one line naming it."""


def is_file(ref: str) -> bool:
    """Whether `ref` names a file (ends ``.py``) rather than a module."""
    return ref.endswith(".py")


def normalise(ref: str) -> str:
    """The form a sweep records: a file's resolved absolute path, a module's name."""
    ref = ref.strip()
    return str(Path(ref).expanduser().resolve()) if is_file(ref) else ref


def module_name(path: Path) -> str:
    """The stable module name of the plug-in file at `path` (resolved): the same file gets the
    same name however it is reached."""
    resolved = str(path.expanduser().resolve())
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:12]
    stem = re.sub(r"\W", "_", path.stem) or "plugin"
    return f"{PREFIX}{digest}_{stem}"


def _loaded_from(path: Path) -> ModuleType | None:
    """A module already imported from the file at `path` (under any name), if any."""
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and file.endswith(".py"):
            try:
                if Path(file).resolve() == path:
                    return module
            except OSError:
                continue
    return None


def _load_file(ref: str) -> ModuleType:
    path = Path(ref).expanduser()
    try:
        path = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise PluginError(f"plugin {ref!r}: no such file") from None
    if not path.is_file():
        raise PluginError(f"plugin {ref!r}: not a file")
    name = module_name(path)
    found = sys.modules.get(name) or _loaded_from(path)
    if found is not None:
        sys.modules.setdefault(name, found)
        return found
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin {ref!r}: cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it, as an import does (dataclasses need it)
    try:
        spec.loader.exec_module(module)
    except BaseException as err:
        sys.modules.pop(name, None)
        raise PluginError(f"plugin {ref!r} failed to import: {_first_line(err)}") from None
    return module


def _load_module(ref: str) -> ModuleType:
    if ref in sys.modules:
        return sys.modules[ref]
    try:
        spec = importlib.util.find_spec(ref)
    except (ImportError, ValueError) as err:
        raise PluginError(f"plugin {ref!r}: {_first_line(err)}") from None
    if spec is None:
        raise PluginError(f"plugin {ref!r}: no module named {ref!r}")
    if spec.origin and spec.origin.endswith(".py"):
        # the same file, loaded before by path: the module under a second name, not a copy
        same = _loaded_from(Path(spec.origin).resolve())
        if same is not None:
            sys.modules[ref] = same
            return same
    try:
        return importlib.import_module(ref)
    except BaseException as err:
        raise PluginError(f"plugin {ref!r} failed to import: {_first_line(err)}") from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def load_plugin(ref: str) -> ModuleType:
    """Import the plug-in `ref` (a module name or a ``.py`` file) once; return its module.

    Raises:
        PluginError: no such module or file, or importing it raised (one line).
    """
    ref = ref.strip()
    if not ref:
        raise PluginError("plugin '': empty name")
    return _load_file(ref) if is_file(ref) else _load_module(ref)


def load_plugins(refs: Iterable[str]) -> list[ModuleType]:
    """:func:`load_plugin` each of `refs`, in order."""
    return [load_plugin(ref) for ref in refs]
