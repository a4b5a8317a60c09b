"""Low-precision transformer paths (issue 25): precision="bf16" / "int8", the CPU capability check at load,
and vectors close to fp32 on a tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embspace.encoders import SentenceEncoder, _cpu, get_encoder
from embspace.errors import InvalidInputError

pytest.importorskip("sentence_transformers")

TEXTS = ["the cat sat on the mat", "a river bank", "money in the bank account", "we sat",
         "the dog sat on the long mat and the cat sat on the dog", "she opened a bank account",
         "word words wording", "the"]
X86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse avx2 avx512f {extra}\n\n"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from text_testing import build_st

    return build_st(tmp_path_factory.mktemp("prec"))


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def _has(precision: str) -> bool:
    try:
        _cpu.check_precision(precision)
    except InvalidInputError:
        return False
    return True


def test_unknown_precision_and_gpu_are_clear_errors(tiny: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"'fp16'.*'fp32', 'bf16' or 'int8'"):
        SentenceEncoder(tiny, device="cpu", precision="fp16")  # type: ignore[arg-type]
    for precision in ("bf16", "int8"):
        with pytest.raises(InvalidInputError, match=f"precision='{precision}' runs on the CPU"):
            SentenceEncoder(tiny, device="cuda", precision=precision)  # type: ignore[arg-type]


def test_flags_are_read_from_cpuinfo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(X86.format(extra="avx512_bf16 avx512_vnni") * 2)
    monkeypatch.setattr(_cpu, "CPUINFO", info)
    assert {"avx512_bf16", "avx512_vnni", "avx2"} <= _cpu.cpu_flags()  # type: ignore[operator]
    info.write_text("processor\t: 0\nFeatures\t: fp asimd asimddp bf16 i8mm\n")  # Arm spells it Features
    assert {"bf16", "asimddp"} <= _cpu.cpu_flags()  # type: ignore[operator]
    monkeypatch.setattr(_cpu, "CPUINFO", tmp_path / "absent")  # no /proc: PyTorch's coarse view, or None
    flags = _cpu.cpu_flags()
    assert flags is None or all(f == f.lower() for f in flags)


@pytest.mark.parametrize(("precision", "needs"), [("bf16", "AVX512_BF16"), ("int8", "VNNI")])
def test_missing_instructions_are_refused_at_load(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  precision: str, needs: str) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(X86.format(extra=""))  # AVX-512 but neither bf16 nor VNNI
    monkeypatch.setattr(_cpu, "CPUINFO", info)
    with pytest.raises(InvalidInputError, match=needs) as err:
        SentenceEncoder(tiny, device="cpu", precision=precision)  # type: ignore[arg-type]
    assert "precision='fp32'" in str(err.value)  # the alternative is named
    with monkeypatch.context() as m:
        m.setattr(_cpu, "cpu_flags", lambda: None)  # neither /proc/cpuinfo nor PyTorch could tell
        with pytest.raises(InvalidInputError, match="could not be read"):
            _cpu.check_precision(precision)
    info.write_text(X86.format(extra="avx512_bf16 avx512_vnni"))
    _cpu.check_precision(precision)  # the instructions are there: no error
    _cpu.check_precision("fp32", frozenset())  # fp32 needs nothing


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_low_precision_vectors_are_close_to_fp32(tiny: Path, precision: str) -> None:
    if not _has(precision):
        pytest.skip(f"this CPU has no {precision} instructions")
    if precision == "int8":
        pytest.importorskip("openvino")
        pytest.importorskip("nncf")
    fp32 = np.asarray(SentenceEncoder(tiny, device="cpu").encode(TEXTS, progress=False))
    enc = SentenceEncoder(tiny, device="cpu", precision=precision)  # type: ignore[arg-type]
    assert enc.precision == precision
    ours = np.asarray(enc.encode(TEXTS, progress=False))
    assert ours.dtype == np.float32 and ours.shape == fp32.shape
    # Not bit-equal across engines: bf16 keeps 8 mantissa bits (relative error ~0.4% per value), int8
    # rounds weights and activations to 256 levels; on this random 2-layer model the cosines stay above
    # these bounds (MiniLM on SciFact is measured in BENCHMARKS.md).
    cos = _cos(ours, fp32)
    bound = 0.999 if precision == "bf16" else 0.98
    assert cos.mean() >= bound, cos
    assert enc.space_id == SentenceEncoder(tiny, device="cpu").space_id  # same coordinates, approximated


def test_get_encoder_passes_the_precision(tiny: Path) -> None:
    if not _has("bf16"):
        pytest.skip("this CPU has no bf16 instructions")
    enc = get_encoder(str(tiny), device="cpu", precision="bf16")
    assert enc.precision == "bf16"  # type: ignore[attr-defined]
    assert "bf16" in repr(enc)
