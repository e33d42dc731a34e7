"""Write a file so that a reader sees the old one or the whole new one, never half of it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a unique temporary name beside `path`; once the block has written it, rename it over `path`.

    An error (a full disk, a read-only folder, an interruption) leaves `path` as it was and no temporary
    file behind; an OSError names `path`, not the temporary file.
    """
    path = Path(path)
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        os.fchmod(handle, 0o644)  # as an ordinary new file (mkstemp makes it private)
        os.close(handle)
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(path)) from None
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        if isinstance(error, OSError):
            raise OSError(error.errno, error.strerror, str(path)) from None
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file renamed into place."""
    with replacing(path) as temporary:
        temporary.write_bytes(data)
