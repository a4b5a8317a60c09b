"""The int8 engine for transformer text encoders: OpenVINO with int8 weights and dynamic int8 activations.

Measured on this project's 2-core AVX-512-VNNI CPU with all-MiniLM-L6-v2 (BENCHMARKS.md): PyTorch
fp32 is GEMM-bound (~80% of the cores' peak), so fp32 engines differ little (ONNX Runtime's fused
fp32 graph was *slower* than PyTorch; OpenVINO fp32 about equal). int8 is where time can be won:
OpenVINO's CPU plugin with int8 weights (asymmetric, per output channel, compressed by NNCF) and
activations quantised per group of 32 at run time gives ~1.5x PyTorch fp32 at cosine ~0.999 to it;
ONNX Runtime's dynamic int8 gave ~1.35x at cosine ~0.996.

The converted model is cached under :func:`embspace.encoders._cache.cache_dir` by a key of the model
revision and the library versions, written atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import MissingDependencyError
from ._cache import cache_dir

RECIPE = 1  # bump when the conversion/compression steps change, so old caches are not reused
GROUP_SIZE = 32  # activations quantised per group of 32 values: 0.999 cosine; 256 loses ~0.001 for ~10% speed


def available() -> bool:
    try:
        import nncf  # noqa: F401
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def _key(name: str, revision: str, recipe: str = "int8") -> str:
    import nncf
    import openvino
    import torch
    import transformers

    raw = json.dumps({"name": name, "revision": revision, "recipe": RECIPE, "kind": recipe, "openvino": openvino.__version__,
                      "nncf": nncf.__version__, "torch": torch.__version__,
                      "transformers": transformers.__version__}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


def _convert(model: Any, xml: Path, *, compress: bool = True) -> None:
    import nncf
    import openvino as ov
    import torch

    class States(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = torch.ones((2, 16), dtype=torch.int64)
    mask = torch.ones((2, 16), dtype=torch.int64)
    quiet = logging.getLogger("nncf")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            converted = ov.convert_model(States().eval(), example_input=(ids, mask),
                                         input=[("input_ids", [-1, -1], ov.Type.i64),
                                                ("attention_mask", [-1, -1], ov.Type.i64)])
            if compress:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    converted = nncf.compress_weights(converted, mode=nncf.CompressWeightsMode.INT8_ASYM)
        ov.save_model(converted, str(xml), compress_to_fp16=False)
    finally:
        quiet.setLevel(level)


def build(model: Any, *, name: str, revision: str, kind: str = "int8") -> Path:
    """The cached OpenVINO model (``model.xml``) of ``model``'s token states, converted if absent: ``kind``
    ``"int8"`` (int8 weights, compressed by NNCF) or ``"fp32"`` (the graph as it is, for a bf16 plugin)."""
    if not available():
        raise MissingDependencyError("openvino", "encoders", f"precision={'int8' if kind == 'int8' else 'bf16'!r} "
                                     "(OpenVINO with NNCF)")
    key = _key(name, revision, kind)
    root = cache_dir() / "openvino"
    final = root / key
    target = final / "model.xml"
    if target.is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
    try:
        _convert(model, work / "model.xml", compress=kind == "int8")
        try:
            os.replace(work, final)  # atomic: a reader sees the whole directory or none
        except OSError:  # another process finished first
            if not target.is_file():
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return target


class OpenVinoStates:
    """Token states from a cached model: ``states(input_ids, attention_mask) -> (b, L, hidden)``; ``hint`` the
    plugin's inference precision for what is not int8 (``"f32"``, or ``"bf16"``)."""

    def __init__(self, path: Path, threads: int, *, hint: str = "f32") -> None:
        import openvino as ov

        core = ov.Core()
        config: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
                                  "INFERENCE_PRECISION_HINT": hint, "DYNAMIC_QUANTIZATION_GROUP_SIZE": GROUP_SIZE}
        self.path = path
        self.hint = hint
        self._request = core.compile_model(str(path), "CPU", config).create_infer_request()

    def __call__(self, input_ids: npt.NDArray[np.int64], attention_mask: npt.NDArray[np.int64]) -> Any:
        result = self._request.infer({0: input_ids, 1: attention_mask})
        return np.array(next(iter(result.values())), dtype=np.float32)  # a copy: the request reuses its buffer
