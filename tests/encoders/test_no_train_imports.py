"""encoders sit below train: no module of embspace.encoders imports embspace.train, not even in a function.

The deprecated aliases (``embspace.encoders.TwoTowerClip``, ``.finetune`` and the module
``embspace.encoders.two_tower_clip``) reach train lazily through ``importlib`` in a module
``__getattr__``, which is not an import statement: those two shims are the only way in.
"""

from __future__ import annotations

import ast
from pathlib import Path

import embspace.encoders

ROOT = Path(embspace.encoders.__file__).resolve().parent


def _imports(path: Path) -> list[str]:
    """Every module an import statement of ``path`` names, resolved to absolute ``embspace.*`` names."""
    names = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["embspace", "encoders"][: 2 - (node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            names += [mod] + [f"{mod}.{a.name}" for a in node.names]
    return names


def test_no_encoders_module_imports_train() -> None:
    offenders = {p.name: [n for n in _imports(p) if n == "embspace.train" or n.startswith("embspace.train.")]
                 for p in sorted(ROOT.glob("*.py"))}
    assert not {k: v for k, v in offenders.items() if v}
    shims = sorted(p.name for p in ROOT.glob("*.py") if "embspace.train" in p.read_text("utf-8"))
    assert shims == ["__init__.py", "two_tower_clip.py"]
