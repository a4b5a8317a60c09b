"""Session-wide test settings."""

from __future__ import annotations

import os
import tempfile

import pytest

# Derived artifacts (exported ONNX graphs, encoding caches) go to a throw-away folder, never ~/.cache; what the
# demo saves and `embspace serve` serves by default goes there too, never ~/.local/share. Each parallel worker
# gets folders of its own (a worker inherits the controller's environment, so `setdefault` alone would share
# them): tests assume they own the cache, e.g. that no half-written int8 conversion is left in it, which another
# worker converting a model at the same moment would break.
_worker = os.environ.get("PYTEST_XDIST_WORKER")
for _var, _prefix in (("EMBSPACE_CACHE", "embspace-test-cache-"), ("EMBSPACE_DATA", "embspace-test-data-")):
    if _worker:
        os.environ[_var] = tempfile.mkdtemp(prefix=f"{_prefix}{_worker}-")
    else:
        os.environ.setdefault(_var, tempfile.mkdtemp(prefix=_prefix))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Parallel workers (pytest-xdist, `-n auto` in pyproject.toml): each worker is one process per core, so each
# gets ONE BLAS/OpenMP/torch thread; two workers with a thread per core each would run four threads on two
# cores and both go slower. The variables are read when numpy/torch/numba load (after this file, in a worker)
# and are inherited by the subprocesses tests start. Code under test that sets its own threads (threads=,
# workers=) still does. A run without workers (-n 0, or -p no:xdist) keeps the machine's defaults.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                 "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS"):
        os.environ.setdefault(_var, "1")
    # numpy may already be loaded by a plugin: limit its BLAS pool at run time too
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency of embspace
        pass
    else:
        threadpool_limits(1)


# The longest tests start first. With two workers the suite takes about max(half the total, the longest test)
# only if the long ones do not start last: xdist hands tests out in collection order, so these move to the front
# (longest first; the rest keep their order). Ordering only: nothing is selected or skipped here, and a name that
# no longer matches a test costs nothing. Measured with `pytest --durations=40`; keep the list short.
LONG_FIRST = (
    "tests/store/test_collection_model.py::TestCollectionVsModel",  # 1,000 stateful sequences
    "tests/train/test_glove_memory.py::",  # a GloVe fit in a subprocess, peak memory measured
    "tests/serve/test_schemathesis.py::",  # ~1,600 generated requests
    "tests/store/test_crash_safety.py::",  # 50 writers killed at random points
    "tests/cli/test_demo.py::",  # the demo, run once for the module (a 40 s fixture)
    "tests/analysis/test_maps.py::test_maps_keep_clusters_apart_and_place_new_points",
    "tests/evaluate/test_transfer.py::test_mnist_probe_matches_scikit_learn_on_the_same_split",
    "tests/index/test_faiss_index.py::test_recall_against_exact[OPQ8",
    "tests/cli/test_contrastive_cli.py::test_train_clip_digits_on_synthetic_digits",
    "tests/test_docs.py::test_shell_example[",  # 10-45 s each: the docs' shell examples
)
# Tests that run in one worker, in order: test_schemathesis.py counts the requests its generated tests made (a
# module-level list) in a later test, and test_api.py's last test checks that the tests before it called every
# endpoint; test_demo.py's tests share one run of the demo (a module fixture that two workers would each build),
# test_ray_encoding.py's one Ray cluster (two would each claim both CPUs).
SAME_WORKER = {
    "tests/serve/test_schemathesis.py": "schemathesis",
    "tests/serve/test_api.py": "api",
    "tests/cli/test_demo.py": "demo",
    "tests/encoders/test_ray_encoding.py": "ray",  # one local Ray cluster for the module, not one per worker
}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        group = SAME_WORKER.get(item.nodeid.split("::")[0])
        if group:
            item.add_marker(pytest.mark.xdist_group(group))

    def rank(item: pytest.Item) -> int:
        return next((i for i, prefix in enumerate(LONG_FIRST) if item.nodeid.startswith(prefix)), len(LONG_FIRST))

    items.sort(key=rank)  # stable: the order of the rest is kept
