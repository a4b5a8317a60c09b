"""Reading small evaluation files: UTF-8 (a byte-order mark allowed), bad bytes reported by line."""

from __future__ import annotations

from pathlib import Path

from ..errors import CorruptDataError


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file (``\\n``, ``\\r\\n`` or ``\\r`` endings; a leading BOM dropped).

    Raises
    ------
    CorruptDataError
        The file is not valid UTF-8; the message names the first bad line.
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        start = e.start + len(data) - len(e.object)  # the decoder reports offsets after the BOM
        line = data.count(b"\n", 0, start) + 1
        raise CorruptDataError(path, f"not valid UTF-8 ({e.reason} at byte {start}); "
                                     "save the file as UTF-8", line=line) from None
    return text.splitlines()
