"""Fault injection for bayesxp's tests and reliability catalogue: a full disk, an unprivileged user.

These helpers only patch the running process (no real disk is filled) and undo everything on exit.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["full_disk", "enospc_on_write", "enospc_on_fsync", "unprivileged", "share"]


@contextlib.contextmanager
def full_disk(folder: str | os.PathLike) -> Iterator[None]:
    """Every file or folder creation and every write under ``folder`` fails with ENOSPC (a full disk).

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp())
        >>> with full_disk(target):
        ...     try:
        ...         open(target / "x", "w")
        ...     except OSError as exc:
        ...         print(exc.errno == errno.ENOSPC)
        True
    """
    folder_text = str(Path(folder).resolve())
    real_open, real_io_open, real_os_open, real_mkdir = builtins.open, io.open, os.open, os.mkdir

    def inside(path: object) -> bool:
        try:
            return str(Path(os.fsdecode(path)).resolve()).startswith(folder_text)
        except (TypeError, ValueError):
            return False

    def full(path: object) -> OSError:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fsdecode(path))

    def fake_open(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if isinstance(file, str | bytes | os.PathLike) and any(m in mode for m in "wax+") and inside(file):
            raise full(file)
        return real_open(file, mode, *args, **kwargs)

    def fake_os_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(path):
            raise full(path)
        return real_os_open(path, flags, *args, **kwargs)

    def fake_mkdir(path: object, *args: object, **kwargs: object) -> None:
        if inside(path):
            raise full(path)
        return real_mkdir(path, *args, **kwargs)

    builtins.open, io.open, os.open, os.mkdir = fake_open, fake_open, fake_os_open, fake_mkdir
    try:
        yield
    finally:
        builtins.open, io.open, os.open, os.mkdir = real_open, real_io_open, real_os_open, real_mkdir


@contextlib.contextmanager
def enospc_on_write(match: str) -> Iterator[None]:
    """``Table.write`` to a file whose name contains ``match`` fails with ENOSPC after writing half of it.

    Example:
        >>> import tempfile
        >>> from astropy.table import Table
        >>> target = Path(tempfile.mkdtemp()) / "out.csv"
        >>> with enospc_on_write("out"):
        ...     try:
        ...         Table({"a": [1]}).write(target)
        ...     except OSError as exc:
        ...         print(exc.errno == errno.ENOSPC, target.read_bytes())
        True b'half a file'
    """
    from astropy.table import Table

    real = Table.__dict__["write"]  # the unified-I/O descriptor itself, restored as it was

    def write(self: Table, target: object, *args: object, **kwargs: object) -> None:
        if match in Path(str(target)).name:
            Path(str(target)).write_bytes(b"half a file")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real.__get__(self, Table)(target, *args, **kwargs)

    Table.write = write
    try:
        yield
    finally:
        Table.write = real


@contextlib.contextmanager
def enospc_on_fsync() -> Iterator[None]:
    """Every ``os.fsync`` fails with ENOSPC (a disk that fills while the data are flushed).

    Example:
        >>> with enospc_on_fsync():
        ...     try:
        ...         os.fsync(0)
        ...     except OSError as exc:
        ...         print(exc.errno == errno.ENOSPC)
        True
    """
    real = os.fsync

    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    os.fsync = fsync
    try:
        yield
    finally:
        os.fsync = real


@contextlib.contextmanager
def unprivileged() -> Iterator[None]:
    """Act as user ``nobody`` when root (root ignores file modes, so a read-only folder needs a real user).

    Example:
        >>> with unprivileged():
        ...     print(os.geteuid() != 0)
        True
    """
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def share(path: str | os.PathLike) -> Path:
    """Make a file or folder tree readable by any user (so :func:`unprivileged` code can read it).

    Example:
        >>> import tempfile
        >>> oct(share(tempfile.mkdtemp()).stat().st_mode & 0o777)
        '0o755'
    """
    path = Path(path)
    for item in [path, *(path.rglob("*") if path.is_dir() else [])]:
        item.chmod(0o755 if item.is_dir() else 0o644)
    return path
