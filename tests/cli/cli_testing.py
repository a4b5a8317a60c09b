"""What the CLI tests share: running ``embspace`` in-process and reading what it printed."""

from __future__ import annotations

import pytest

from embspace.cli.app import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of ``embspace ARGV`` run in this process (0 when it returns)."""
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    cap = capsys.readouterr()
    return code, cap.out, cap.err
