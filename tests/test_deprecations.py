"""Old public names (renamed in issue 21, "one word per concept") still import for one release: each
warns with a DeprecationWarning and is the very object of its new name. docs/glossary.md has the words."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest


@pytest.mark.parametrize(("module", "old", "new"), [
    ("embspace.analysis", "compare", "compare_spaces"),
    ("embspace.analysis", "Comparison", "SpaceComparison"),
    ("embspace.analysis", "dedup", "find_duplicates"),
    ("embspace.analysis", "Projection", "SpaceMap"),
    ("embspace.analysis.compare", "compare", "compare_spaces"),
    ("embspace.analysis.compare", "Comparison", "SpaceComparison"),
    ("embspace.analysis.clustering", "dedup", "find_duplicates"),
    ("embspace.analysis.maps", "Projection", "SpaceMap"),
    ("embspace.evaluate", "compare", "compare_models"),
])
def test_renamed_name_warns_and_is_the_new_object(module: str, old: str, new: str) -> None:
    mod = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=rf"{module}\.{old} is deprecated.*{module}\.{new}"):
        got = getattr(mod, old)
    assert got is getattr(mod, new)
    with pytest.warns(DeprecationWarning, match="is deprecated"):
        exec(f"from {module} import {old} as imported", namespace := {})  # the `from ... import` form too
    assert namespace["imported"] is getattr(mod, new)
    assert old not in mod.__all__ and new in mod.__all__


def test_analysis_compare_is_still_the_function_and_the_module() -> None:
    """`embspace.analysis.compare` was both a submodule and (shadowing it) the function; both keep working."""
    from embspace import analysis

    with pytest.warns(DeprecationWarning):
        assert analysis.compare is analysis.compare_spaces  # the attribute: the old function
    from embspace.analysis.compare import cka  # the module's names import as before, without a warning

    assert cka is analysis.cka


def _fresh_import(name: str) -> ModuleType:
    sys.modules.pop(name, None)  # the alias warns when its module body runs: run it again
    parent, _, child = name.rpartition(".")
    if hasattr(sys.modules.get(parent), child):
        delattr(sys.modules[parent], child)
    return importlib.import_module(name)


@pytest.mark.parametrize(("old", "new", "names"), [
    ("embspace.apps.models", "embspace.apps.schemas", ["Hits", "MapHits", "RetrieveRequest", "MAX_K",
                                                       "NAME_PATTERN"]),
    ("embspace.encoders.pipeline", "embspace.encoders.file_encoding", ["encode_file", "read_items",
                                                                       "EncodingCache", "IMAGE_SUFFIXES"]),
])
def test_moved_module_warns_and_reexports(old: str, new: str, names: list[str]) -> None:
    with pytest.warns(DeprecationWarning, match=rf"the module {old} is deprecated.*{new}"):
        alias = _fresh_import(old)
    target = importlib.import_module(new)
    assert set(target.__all__) <= set(alias.__all__)
    for name in [*target.__all__, *names]:
        assert getattr(alias, name) is getattr(target, name), name
    with pytest.raises(AttributeError):
        _ = alias.no_such_name


def test_the_http_only_models_of_apps_models_come_from_serve_schemas() -> None:
    # They moved to embspace.serve.schemas with the routers; the deprecated alias forwards them lazily.
    with pytest.warns(DeprecationWarning):
        alias = _fresh_import("embspace.apps.models")
    serve_schemas = importlib.import_module("embspace.serve.schemas")
    for name in ("Health", "ErrorResponse", "SearchRequest", "CollectionInfo", "StoredItem", "WriteResponse"):
        assert name in alias.__all__
        assert getattr(alias, name) is getattr(serve_schemas, name), name
    assert not hasattr(importlib.import_module("embspace.apps.schemas"), "Health")  # one home per model


ROOT = Path(__file__).resolve().parents[1]
OLD_NAMES = re.compile(r"""(?<!["\w])(Projection|Comparison)\b|\banalysis\.(compare|dedup)\b(?!\.py)
                           |\bevaluate\.compare\b|\bapps\.models\b|\bencoders\.pipeline\b
                           |\bfrom\ \.(models|pipeline)\ import\b""", re.X)
#: Where the old names are meant to appear: the alias modules, and the glossary's list of old names.
ALIASES = {"src/embspace/apps/models.py", "src/embspace/encoders/pipeline.py", "docs/glossary.md"}


def test_src_docs_and_readme_use_only_the_new_names() -> None:
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / "docs").rglob("*.md"), ROOT / "README.md"]  # the demo too
    found = [f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
             for path in files if path.relative_to(ROOT).as_posix() not in ALIASES
             for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if OLD_NAMES.search(line) and not line.lstrip().startswith("#:")]  # `#:` lines name the aliases
    assert not found, "old names (see docs/glossary.md for the new ones):\n" + "\n".join(found)
