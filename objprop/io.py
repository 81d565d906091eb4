"""Atomic file output: write to a temporary name in the target folder, then rename.

A crash or a bad input half-way through never leaves a half-written result behind.
"""
import contextlib
import json
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path, suffix=None):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix,
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file 0600; give it the mode a plain open() would have
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(obj, path, indent=None):
    """Write ``obj`` as JSON to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=indent)
    return Path(path)


def write_text_atomic(text, path):
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)
    return Path(path)


def safe_name(text):
    """A file-name part from a display name: lower case, every run of characters other than
    letters, digits, ``.`` and ``-`` one ``_`` (``"MaskTrack R-CNN, authors' test settings"``
    → ``masktrack_r-cnn_authors_test_settings``)."""
    import re
    return re.sub(r"[^a-z0-9.-]+", "_", str(text).lower()).strip("_") or "_"
