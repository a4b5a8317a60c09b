"""Packaging promises: every ``pip install "embspace[extra]"`` we tell a user to run names a real extra."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTRA_MENTION = re.compile(r"embspace\[([A-Za-z0-9_,.-]+)\]")


def declared_extras() -> set[str]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return set(tomllib.load(f)["project"]["optional-dependencies"])


def missing_dependency_extras() -> list[tuple[str, str]]:
    """``(where, extra)`` of every ``MissingDependencyError(package, extra, feature)`` call in src/."""
    found = []
    for path in sorted((ROOT / "src" / "embspace").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name != "MissingDependencyError":
                continue
            where = f"{path.relative_to(ROOT).as_posix()}:{node.lineno}"
            arg = next((k.value for k in node.keywords if k.arg == "extra"), None)
            if arg is None and len(node.args) >= 2:
                arg = node.args[1]
            assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), (
                f"{where}: the extra of MissingDependencyError should be a string literal (this test checks it)"
            )
            found.append((where, arg.value))
    return found


def test_missing_dependency_errors_name_existing_extras() -> None:
    found = missing_dependency_extras()
    assert len(found) > 10  # the scan sees the calls (there are ~20)
    extras = declared_extras()
    bad = [f"{where}: embspace[{extra}]" for where, extra in found if extra not in extras]
    assert not bad, f"MissingDependencyError names extras pyproject.toml lacks ({sorted(extras)}):\n" + "\n".join(bad)


def test_docs_and_messages_name_existing_extras() -> None:
    extras = declared_extras()
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "src").rglob("*.py"))]
    bad = []
    for path in files:
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for m in EXTRA_MENTION.finditer(line):
                bad += [f"{path.relative_to(ROOT)}:{lineno}: {e}" for e in m.group(1).split(",") if e not in extras]
    assert not bad, "unknown extras named:\n" + "\n".join(bad)


def test_the_train_extra_installs_torch() -> None:
    with open(ROOT / "pyproject.toml", "rb") as f:
        deps = tomllib.load(f)["project"]["optional-dependencies"]["train"]
    assert any(re.match(r"torch\b", d) for d in deps), deps
