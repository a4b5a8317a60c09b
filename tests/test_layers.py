"""The layer contract: no module of embspace imports a higher layer (docs/design: ARCHITECTURE.md).

Every ``.py`` file under ``src/embspace`` is parsed with :mod:`ast` (nothing is imported, so optional
heavy dependencies do not matter) and every reference to one of our own modules is collected:

- ``import embspace.x`` and ``from embspace.x import y`` anywhere in the file: at module level, inside
  functions and methods, inside ``if TYPE_CHECKING:`` blocks (a type-only edge is still an edge of the
  design; ``from __future__ import annotations`` makes it cost nothing at run time, not disappear);
- relative imports (``from . import y``, ``from ..space import z``), resolved against the module's package;
- ``importlib.import_module("embspace.x")`` / ``import_module(".x", __name__)`` / ``__import__("embspace.x")``
  with a literal (or f-string-free constant) name;
- lazy-import tables: any string constant that is exactly a dotted ``embspace.<package>...`` name of an
  existing module (``_LAZY = {"Word2Vec": ("embspace.train", "Word2Vec")}``).

The rank table (a module may import modules of its own package, and of any package of a LOWER rank;
two different packages of the same rank must not import each other):

====  ====================================================================  =============================
rank  packages / modules                                                      note
====  ====================================================================  =============================
0     ``embspace.errors``, ``embspace._types`` and every other top-level       below everything
      private module ``embspace._*.py`` (``_artifact``, ``_atomic``, ...)
      except ``embspace._open``
1     ``embspace.space``                                                      the noun; imports rank 0 only
2     ``embspace.data``
3     ``embspace.losses``                                                      used by train's learners
4     ``embspace.encoders``                                                    pretrained models
5     ``embspace.train``                                                       learners; fine-tuning uses
                                                                              an encoder, never the reverse
6     ``embspace.index``
7     ``embspace.store``
8     ``embspace.analysis``
9     ``embspace.evaluate``                                                    reads analysis (its tables)
10    ``embspace.apps``
11    ``embspace.serve``, ``embspace.integrations``                            adapters over apps, store
                                                                              and encoders (HTTP;
                                                                              LangChain, LlamaIndex)
12    ``embspace.cli``                                                         parses, calls everything
13    ``embspace._open``                                                       ``embspace.open(path)``
14    ``embspace`` (the top-level ``__init__``)                               re-exports the nouns
====  ====================================================================  =============================

Within a package anything goes (``space.io`` may import ``space.embedding_space``), and the rank-0 modules
may import each other. ARCHITECTURE.md writes "train/encoders" as one step: the issue's reading of it is that
``encoders -> train`` is the wrong edge (a learner living in encoders/), so encoders sit below train, and
train may use an encoder (``train.finetune`` tunes a ``SentenceEncoder``).

Allowed exception (a pattern, not a list of files): a **deprecated-alias shim**, which forwards an old
public name to its new home for one release (``embspace.encoders.TwoTowerClip`` -> ``embspace.train``) and
holds no code of its own. Two shapes count, and only these:

1. an import inside a module-level ``def __getattr__(name)`` whose body warns: it calls
   ``warnings.warn(..., DeprecationWarning, ...)`` or a helper of ``embspace._deprecation``
   (``_deprecation.<anything>(...)``). The forward is lazy: nothing is imported until the old name is used;
2. an alias module: a module whose top level calls ``_deprecation.moved_module(...)`` (it warns on import,
   and is imported only by a user who still names it; nothing of ours imports it);
3. the entries of a module-level table named ``_MOVED...`` or ``_DEPRECATED...`` (``_MOVED = {"TwoTowerClip":
   "embspace.train.two_tower_clip"}``) in a module whose ``__getattr__`` is a shim of shape 1 (the table is
   what that ``__getattr__`` imports from).

Remove the shim, and the exception goes with it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "embspace"

RANKS: dict[str, int] = {
    "errors": 0,
    "_types": 0,
    "space": 1,
    "data": 2,
    "losses": 3,
    "encoders": 4,
    "train": 5,
    "index": 6,
    "store": 7,
    "analysis": 8,
    "evaluate": 9,
    "apps": 10,
    "serve": 11,
    "integrations": 11,  # LangChain/LlamaIndex adapters; serve and integrations never import each other
    "cli": 12,
    "_open": 13,
    "": 14,  # embspace/__init__.py
}
_DOTTED = re.compile(r"embspace(\.[A-Za-z_][A-Za-z0-9_]*)+")


def unit_of(module: str) -> str:
    """The layer unit of a dotted module name: ``embspace.space.io`` -> ``space``; ``embspace`` -> ``""``."""
    parts = module.split(".")
    assert parts[0] == "embspace", module
    return parts[1] if len(parts) > 1 else ""


def rank_of(unit: str) -> int:
    if unit in RANKS:
        return RANKS[unit]
    if unit.startswith("_"):
        return 0  # a top-level private module
    raise KeyError(f"embspace.{unit} has no rank: add it to RANKS in tests/test_layers.py (and ARCHITECTURE.md)")


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def exists(module: str) -> bool:
    rel = Path(*module.split("."))
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


@dataclass(frozen=True)
class Edge:
    source: str  # the importing module
    target: str  # the imported module
    line: int
    how: str  # the source text of the import
    shim: bool  # inside a deprecated-alias shim (module-level __getattr__ that warns DeprecationWarning)


def _is_deprecation_helper(call: ast.Call) -> bool:
    """``_deprecation.f(...)`` or ``embspace._deprecation.f(...)``: a helper that warns DeprecationWarning."""
    f = call.func
    return isinstance(f, ast.Attribute) and (
        (isinstance(f.value, ast.Name) and f.value.id == "_deprecation")
        or (isinstance(f.value, ast.Attribute) and f.value.attr == "_deprecation")
    )


def _is_deprecation_shim(func: ast.FunctionDef) -> bool:
    for node in ast.walk(func):
        if isinstance(node, ast.Call):
            if _is_deprecation_helper(node):
                return True
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name == "warn" and any(
                isinstance(n, ast.Name | ast.Attribute)
                and (n.id if isinstance(n, ast.Name) else n.attr) == "DeprecationWarning"
                for a in [*node.args, *(k.value for k in node.keywords)]
                for n in ast.walk(a)
            ):
                return True
    return False


def _resolve_relative(package: str, level: int, module: str | None) -> str:
    base = package.split(".")
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def edges_of(path: Path) -> list[Edge]:
    """Every reference of the module at ``path`` to one of our modules."""
    return edges_in(path.read_text(encoding="utf-8"), module_name(path), is_package=path.name == "__init__.py")


def edges_in(source: str, me: str, *, is_package: bool) -> list[Edge]:
    """Every reference of module ``me`` (whose text is ``source``) to one of our modules."""
    tree = ast.parse(source)
    package = me if is_package else me.rpartition(".")[0]
    shim_nodes: set[int] = set()
    alias_module = any(
        isinstance(top, ast.Expr)
        and isinstance(top.value, ast.Call)
        and _is_deprecation_helper(top.value)
        and isinstance(top.value.func, ast.Attribute)
        and top.value.func.attr == "moved_module"
        for top in tree.body
    )
    if alias_module:  # the whole module is a deprecated alias of another one
        shim_nodes.update(id(n) for n in ast.walk(tree))
    for top in tree.body:
        if isinstance(top, ast.FunctionDef) and top.name == "__getattr__" and _is_deprecation_shim(top):
            shim_nodes.update(id(n) for n in ast.walk(top))
            for table in tree.body:  # shape 3: the _MOVED table that shim reads
                if isinstance(table, ast.Assign | ast.AnnAssign) and any(
                    isinstance(t, ast.Name) and t.id.startswith(("_MOVED", "_DEPRECATED"))
                    for t in (table.targets if isinstance(table, ast.Assign) else [table.target])
                ):
                    shim_nodes.update(id(n) for n in ast.walk(table))
    docstrings = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    out: list[Edge] = []
    counted: set[int] = set()

    def add(target: str, node: ast.AST) -> None:
        if target == "embspace" or target.startswith("embspace."):
            how = ast.get_source_segment(source, node) or ""
            out.append(Edge(me, target, getattr(node, "lineno", 0), " ".join(how.split()), id(node) in shim_nodes))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(package, node.level, node.module) if node.level else (node.module or "")
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                # `from embspace import errors` imports the submodule; `from embspace import load` the package
                private = alias.name.startswith("_") and not alias.name.startswith("__")  # a _module
                add(sub if alias.name != "*" and (exists(sub) or private) else base, node)
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in {"import_module", "__import__"} and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    counted.add(id(arg))  # ast.walk visits the call before its argument
                    target = arg.value
                    if target.startswith("."):
                        level = len(target) - len(target.lstrip("."))
                        target = _resolve_relative(package, level, target.lstrip(".") or None)
                    add(target, node)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and id(node) not in counted
            and _DOTTED.fullmatch(node.value)
        ):
            # a lazy-import table entry names a module; a dotted attribute path ("embspace.train.Word2Vec")
            # names the module that holds it
            target = node.value
            while target.count(".") and not exists(target):
                target = target.rpartition(".")[0]
            if "." in target and exists(target):  # "embspace.json" is a file name, not the package
                add(target, node)
    return out


def all_edges() -> list[Edge]:
    return [e for p in sorted(PKG.rglob("*.py")) for e in edges_of(p)]


def violations(edges: list[Edge]) -> list[str]:
    bad = []
    for e in edges:
        su, tu = unit_of(e.source), unit_of(e.target)
        if su == tu or e.shim:
            continue
        rs, rt = rank_of(su), rank_of(tu)
        if rt > rs or (rt == rs and rs != 0):
            path = PKG / Path(*e.source.split(".")[1:])
            rel = (path / "__init__.py") if path.is_dir() else path.with_suffix(".py")
            bad.append(
                f"src/{rel.relative_to(SRC).as_posix()}:{e.line}: {e.source} (rank {rs}) -> {e.target} "
                f"(rank {rt}): {e.how}"
            )
    return sorted(set(bad))


def test_every_package_has_a_rank() -> None:
    units = {unit_of(module_name(p)) for p in PKG.rglob("*.py")}
    for u in units:
        rank_of(u)  # raises with a how-to-fix message


def test_no_module_imports_a_higher_layer() -> None:
    bad = violations(all_edges())
    assert not bad, (
        f"{len(bad)} upward import(s): a lower layer must not import a higher one, not even inside a "
        "function (move the code down, or pass the object in):\n" + "\n".join(bad)
    )


def test_the_scanner_sees_every_kind_of_import() -> None:
    """The scanner itself: module-level, function-local, relative, TYPE_CHECKING, import_module, lazy tables."""
    probe = (
        "from __future__ import annotations\n"
        "import importlib, warnings\n"
        "from typing import TYPE_CHECKING\n"
        "import embspace.store\n"
        "from ..index import exact\n"
        "from .. import cli\n"
        "if TYPE_CHECKING:\n"
        "    from embspace.apps import retriever\n"
        "def f():\n"
        "    from embspace.serve import app\n"
        "    return importlib.import_module('embspace.evaluate')\n"
        "_LAZY = {'X': ('embspace.analysis', 'X')}\n"
        "def __getattr__(name):\n"
        "    warnings.warn('old', DeprecationWarning, stacklevel=2)\n"
        "    from embspace.train import word2vec\n"
        "    return word2vec\n"
    )
    edges = edges_in(probe, "embspace.space.probe", is_package=False)
    targets = {e.target: e for e in edges}
    for t in [
        "embspace.store",
        "embspace.index.exact",
        "embspace.cli",
        "embspace.apps.retriever",
        "embspace.serve.app",
        "embspace.evaluate",
        "embspace.analysis",
        "embspace.train.word2vec",
    ]:
        assert t in targets, t
    assert targets["embspace.train.word2vec"].shim
    assert not targets["embspace.serve.app"].shim
    bad = violations(edges)
    assert len(bad) == 7 and not any("word2vec" in b for b in bad), bad
    alias = (
        "from .. import _deprecation\nfrom ..train import two_tower_clip\n_deprecation.moved_module(__name__, 'x')\n"
    )
    alias_edges = edges_in(alias, "embspace.encoders.two_tower_clip", is_package=False)
    assert alias_edges and all(e.shim for e in alias_edges) and not violations(alias_edges)
    helper = (
        "from .. import _deprecation\n"
        "def __getattr__(name):\n"
        "    _deprecation.warn_moved(name)\n"
        "    from ..train import two_tower_clip\n"
        "    return two_tower_clip\n"
        "def helper():\n"
        "    from ..train import two_tower_clip\n"
    )
    assert len(violations(edges_in(helper, "embspace.encoders.x", is_package=False))) == 1
    table = (
        "import importlib, warnings\n"
        "_MOVED = {'TwoTowerClip': 'embspace.train.two_tower_clip'}\n"
        "_LAZY = {'X': 'embspace.train.word2vec'}\n"
        "def __getattr__(name):\n"
        "    warnings.warn('moved', DeprecationWarning, stacklevel=2)\n"
        "    return getattr(importlib.import_module(_MOVED[name]), name)\n"
    )
    bad = violations(edges_in(table, "embspace.encoders", is_package=True))
    assert len(bad) == 1 and "word2vec" in bad[0], bad  # _MOVED is a shim table, _LAZY is not
    assert not violations(edges_in("from ..encoders import SentenceEncoder\n", "embspace.train.x", is_package=False))


if __name__ == "__main__":  # python3 tests/test_layers.py: list the violations
    for line in violations(all_edges()):
        print(line)
