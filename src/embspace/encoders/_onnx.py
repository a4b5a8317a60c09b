"""ONNX Runtime engine for transformer text encoders: export once per model revision, run fused kernels.

On the CPU, ONNX Runtime's BERT graph optimisations (fused attention, bias+GELU, skip+LayerNorm,
embedding+LayerNorm) cut the memory-bound passes that PyTorch eager runs one by one; the int8 model
adds per-channel dynamic quantisation of every MatMul weight (VNNI kernels where the CPU has them).
Exported graphs are cached under :func:`cache_dir` by a key of the model revision, the precision and
the library versions, written atomically, and checked against PyTorch on a probe batch before use.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import MissingDependencyError

RECIPE = 1  # bump when the export/optimise/quantise steps change, so old caches are not reused
PROBE_TOLERANCE = 2e-3  # max |difference| of token states, ONNX fp32 vs PyTorch, on the probe batch


def cache_dir() -> Path:
    """Where embspace caches derived artifacts: ``$EMBSPACE_CACHE``, else ``$XDG_CACHE_HOME/embspace``."""
    env = os.environ.get("EMBSPACE_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "embspace"


def onnx_available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _versions() -> dict[str, str]:
    import onnxruntime
    import torch
    import transformers

    return {"onnxruntime": onnxruntime.__version__, "torch": torch.__version__,
            "transformers": transformers.__version__}


class _States:
    """``model(input_ids, attention_mask).last_hidden_state`` as a two-input module for the exporter."""

    @staticmethod
    def wrap(model: Any) -> Any:
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids: Any, attention_mask: Any) -> Any:
                return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

        return Wrapped().eval()


def _export(model: Any, path: Path) -> None:
    import torch

    eager = copy.deepcopy(model).eval()
    # The explicit attention graph is the one ONNX Runtime's optimiser recognises and fuses.
    setter = getattr(eager, "set_attn_implementation", None)
    if callable(setter):
        with contextlib.suppress(ValueError, TypeError):
            setter("eager")
    eager.config._attn_implementation = "eager"
    ids = torch.ones((2, 16), dtype=torch.int64)
    mask = torch.ones((2, 16), dtype=torch.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(_States.wrap(eager), (ids, mask), str(path), input_names=["input_ids", "attention_mask"],
                              output_names=["states"], opset_version=17, dynamo=False,
                              dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                                            "attention_mask": {0: "batch", 1: "seq"},
                                            "states": {0: "batch", 1: "seq"}})
        except (TypeError, RuntimeError, AttributeError):  # exporters without the TorchScript path
            batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", max=4096)
            torch.onnx.export(_States.wrap(eager), (ids, mask), str(path), input_names=["input_ids", "attention_mask"],
                              output_names=["states"], dynamo=True,
                              dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}))


def _optimize(src: Path, dst: Path, config: Any) -> None:
    from onnxruntime.transformers import optimizer

    heads = int(getattr(config, "num_attention_heads", 0) or 0)
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = optimizer.optimize_model(str(src), model_type="bert", num_heads=heads, hidden_size=hidden)
    opt.save_model_to_file(str(dst))


def _quantize(src: Path, dst: Path) -> None:
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel scales keep MiniLM's vectors at cosine ~0.996 to fp32; per-tensor ones fall to ~0.94.
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # the quantiser logs a pre-processing hint at WARNING
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"],
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        logging.getLogger().setLevel(level)


def build(model: Any, *, name: str, revision: str, precision: str) -> Path:
    """The cached ONNX graph of ``model``'s token states at ``precision`` ("fp32" or "int8"), exported if absent."""
    if not onnx_available():
        raise MissingDependencyError("onnxruntime", "encoders", "The ONNX Runtime engine")
    key_src = json.dumps({"name": name, "revision": revision, "precision": precision, "recipe": RECIPE,
                          **_versions()}, sort_keys=True)
    key = hashlib.sha256(key_src.encode()).hexdigest()[:20]
    root = cache_dir() / "onnx"
    final = root / key
    target = final / "model.onnx"
    if target.is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
    try:
        _export(model, work / "raw.onnx")
        _optimize(work / "raw.onnx", work / "fp32.onnx", model.config)
        if precision == "int8":
            _quantize(work / "fp32.onnx", work / "model.onnx")
        else:
            os.replace(work / "fp32.onnx", work / "model.onnx")
        for f in work.iterdir():
            if f.name != "model.onnx":
                f.unlink()
        (work / "key.json").write_text(key_src)
        try:
            os.replace(work, final)  # atomic: a reader sees the whole directory or none
        except OSError:  # another process finished first
            if not target.is_file():
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return target


class OnnxStates:
    """Token states from a cached ONNX graph: ``states(input_ids, attention_mask) -> (b, L, hidden)``."""

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = path
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def __call__(self, input_ids: npt.NDArray[np.int64], attention_mask: npt.NDArray[np.int64]) -> Any:
        out = self._session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]
        return np.asarray(out, dtype=np.float32)
