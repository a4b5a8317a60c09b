"""The OpenVINO engine for transformer text encoders: int8 (every matrix product, attention included) and bf16.

Measured on this project's 2-core AVX-512-VNNI CPU with all-MiniLM-L6-v2 (BENCHMARKS.md): PyTorch
fp32 is GEMM-bound (~80% of the cores' peak), so fp32 engines differ little (ONNX Runtime's fused
fp32 graph was *slower* than PyTorch; OpenVINO fp32 about equal). int8 is where time can be won:
OpenVINO's CPU plugin with int8 weights (asymmetric, per output channel, compressed by NNCF) and
activations quantised per group of 32 at run time gave ~1.5x PyTorch fp32 at cosine ~0.999 to it;
ONNX Runtime's dynamic int8 gave ~1.35x at cosine ~0.996. That path left attention (the Q.K^T and
A.V products) in fp32. Since issue 25 ``precision="int8"`` is a full post-training quantisation by
NNCF (``nncf.quantize``, transformer model type: SmoothQuant, int8 inputs for every MatMul, attention
included, calibrated on a small built-in text set), run with the plugin's bf16 precision for what
stays in floating point when the CPU has bf16 instructions: ~2.3-2.8x PyTorch fp32 at cosine ~0.997
(BENCHMARKS.md, "Encoder precision").

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import MissingDependencyError
from ._cache import cache_dir

RECIPE = 2  # bump when the conversion/compression steps change, so old caches are not reused
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

    raw = json.dumps({"name": name, "revision": revision, "recipe": RECIPE, "kind": recipe,
                      "openvino": openvino.__version__, "nncf": nncf.__version__, "torch": torch.__version__,
                      "transformers": transformers.__version__}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


def _convert(model: Any, xml: Path, *, calibration: Sequence[dict[str, Any]] | None = None) -> None:
    """Trace ``model`` to OpenVINO and save it; with ``calibration`` (model inputs), quantised to int8."""
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
            if calibration is not None:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    converted = nncf.quantize(converted, nncf.Dataset(list(calibration)),
                                              model_type=nncf.ModelType.TRANSFORMER,
                                              preset=nncf.QuantizationPreset.MIXED, subset_size=len(calibration))
        ov.save_model(converted, str(xml), compress_to_fp16=False)
    finally:
        quiet.setLevel(level)


def build(model: Any, *, name: str, revision: str, kind: str = "int8",
          calibration: Sequence[dict[str, Any]] | None = None) -> Path:
    """The cached OpenVINO model (``model.xml``) of ``model``'s token states, converted if absent: ``kind``
    ``"int8"`` (quantised by NNCF on ``calibration``, a few batches of model inputs) or ``"fp32"`` (the graph
    as it is, for a bf16 plugin)."""
    if kind == "int8" and calibration is None:
        raise ValueError("an int8 model needs calibration inputs")
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
        _convert(model, work / "model.xml", calibration=calibration if kind == "int8" else None)
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


# Calibration text for int8: sentences of several registers (science, news, questions, dialogue, lists),
# combined into texts from a few tokens to the model's limit, because activation ranges grow with length.
_SENTENCES = (
    "The protein binds to DNA in vitro and regulates the expression of downstream genes.",
    "Patients receiving the higher dose showed a 23% reduction in mortality over five years (p < 0.01).",
    "We propose a new method for estimating the parameters of a mixture model from incomplete data.",
    "The central bank raised interest rates by a quarter of a percentage point on Wednesday.",
    "How do I reset my password if I no longer have access to the email account?",
    "She opened the window, looked at the rain, and decided to stay home after all.",
    "Ingredients: two cups of flour, one egg, a pinch of salt and 250 ml of milk.",
    "The river bank was covered in reeds, and a heron stood motionless in the shallows.",
    "Mutations in BRCA1 and BRCA2 increase the lifetime risk of breast and ovarian cancer.",
    "In 1969, Apollo 11 landed on the Moon, and Neil Armstrong became the first person to walk on it.",
    "def mean(values): return sum(values) / len(values) if values else 0.0",
    "Customer reviews praised the battery life but complained about the weak speaker.",
    "The committee will meet again next Tuesday to vote on the revised budget proposal.",
    "Mitochondrial dysfunction has been linked to neurodegenerative disorders such as Parkinson's disease.",
    "Is it safe to take ibuprofen together with paracetamol for a headache?",
    "The team won the championship after a dramatic penalty shoot-out in the final minute.",
    "Transformers compute attention between every pair of tokens, so their cost grows quadratically with length.",
    "Ünïcode tèxt, numbers like 3.14159 and symbols such as @, # and % appear in real corpora too.",
    "Climate models project a rise of 1.5 to 4.5 degrees Celsius by the end of the century.",
    "Thanks for your message - I'll get back to you by Friday with the signed contract.",
    "A randomized controlled trial of 1,204 adults found no effect of vitamin D on fracture risk.",
    "The museum's new wing displays paintings from the Dutch Golden Age.",
    "Error 404: the page you requested could not be found on this server.",
    "Cells were cultured in DMEM supplemented with 10% fetal bovine serum at 37 degrees.",
)


def calibration_texts(n: int = 64) -> list[str]:
    """``n`` texts from single sentences to ~20 sentences, deterministic."""
    rng = np.random.default_rng(25)
    out = []
    for i in range(n):
        k = 1 if i < n // 4 else (int(rng.integers(3, 6)) if i < n // 2 else int(rng.integers(10, 21)))
        out.append(" ".join(_SENTENCES[j] for j in rng.choice(len(_SENTENCES), k, replace=k > len(_SENTENCES))))
    return out
