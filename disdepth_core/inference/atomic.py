# Copyright 2026 The disdepth_ros Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
Atomic file output for every tool (temp file + rename), and the file digest models are keyed by.

The temporary file lives in the destination directory (so the rename is atomic), starts with a
dot (so watchers ignore it) and gets the usual ``0666 & ~umask`` permissions (``mkstemp`` alone
would leave the result readable only by its owner).  Standard library only.
"""

import contextlib
import hashlib
import os
from pathlib import Path
import tempfile
from typing import Iterator, Union


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: Union[str, Path], suffix: str = '.tmp') -> Iterator[Path]:
    """
    Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file is removed when the block raises (nothing half-written is left).

    :param path: the final file
    :param suffix: suffix of the temporary file (some writers need the real extension)
    :return: a context manager yielding the temporary path
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: Union[str, Path], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def file_sha256(path: Union[str, Path], chunk: int = 1 << 20) -> str:
    """Return the SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def write_marked_section(path: Union[str, Path], begin: str, end: str, text: str) -> None:
    """
    Replace what lies between the ``begin`` and ``end`` marker lines of a text file, atomically.

    The rest of the file is kept; a file without the markers gets them, with ``text``, appended;
    a missing file is created with a ``# Benchmarks`` title.

    :param path: the file (e.g. docs/benchmarks.md)
    :param begin: the opening marker line
    :param end: the closing marker line
    :param text: the new content between them
    """
    path = Path(path)
    body = f'{begin}\n{text}{end}\n'
    old = path.read_text() if path.is_file() else '# Benchmarks\n\n'
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        body = head + body + rest.split(end, 1)[1].lstrip('\n')
    else:
        body = old.rstrip('\n') + '\n\n' + body
    atomic_write_text(path, body)


def atomic_write_text(path: Union[str, Path], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode('utf-8'))
