"""Which low-precision instructions this CPU has: the check behind ``precision="bf16"`` / ``"int8"``.

The flags come from ``/proc/cpuinfo`` (Linux, x86 and Arm); where it cannot be read, from PyTorch's
own view of the CPU (``torch.backends.cpu.get_cpu_capability()``), which only knows the vector width
and so cannot confirm bf16 or int8 dot-product instructions. A precision whose instructions are missing
is refused at load with an error that names them and the alternative, rather than run emulated (a
bf16 model on a CPU without bf16 instructions runs *slower* than fp32).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidInputError

CPUINFO = Path("/proc/cpuinfo")

# precision -> (any of these flags, how to name them in an error)
NEEDS: dict[str, tuple[frozenset[str], str]] = {
    "bf16": (frozenset({"avx512_bf16", "amx_bf16", "bf16"}),
             "AVX512_BF16 or AMX-BF16 (x86: Intel Cooper Lake / Sapphire Rapids or later, AMD Zen 4 or later) "
             "or BF16 (Arm v8.6)"),
    "int8": (frozenset({"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"}),
             "AVX512-VNNI, AVX-VNNI or AMX-INT8 (x86: Intel Cascade Lake / Alder Lake or later, AMD Zen 4 or "
             "later) or the Arm dot-product instructions (asimddp / i8mm)"),
}


def cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags (lower case), or None when they cannot be read."""
    try:
        text = CPUINFO.read_text(errors="replace")
    except OSError:
        return _torch_flags()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):  # x86: flags; Arm: Features
            return frozenset(value.lower().split())
    return _torch_flags()


def _torch_flags() -> frozenset[str] | None:
    """A coarse fallback: PyTorch's dispatch level ("AVX512", "AVX2", ...); None when unknown."""
    try:
        import torch

        level = str(torch.backends.cpu.get_cpu_capability()).lower()
    except Exception:  # no torch, or a build without the query
        return None
    return frozenset({level}) if level and level != "default" else None


def has_instructions(precision: str) -> bool:
    """Whether the CPU shows ``precision``'s instructions (``"bf16"``, ``"int8"``)."""
    flags = cpu_flags()
    return flags is not None and bool(flags & NEEDS[precision][0])


def check_precision(precision: str, flags: frozenset[str] | None = None) -> None:
    """Raise :class:`~embspace.errors.InvalidInputError` when the CPU lacks ``precision``'s instructions."""
    if precision not in NEEDS:
        return
    flags = cpu_flags() if flags is None else flags
    wanted, names = NEEDS[precision]
    if flags is not None and flags & wanted:
        return
    seen = ("its flags could not be read (no /proc/cpuinfo, and PyTorch does not report them)" if flags is None
            else f"it has none of {', '.join(sorted(wanted))}")
    other = "precision='int8' (if the CPU has VNNI) or 'fp32'" if precision == "bf16" else "precision='fp32'"
    raise InvalidInputError(f"precision={precision!r} needs a CPU with {names}, and this CPU does not show them "
                            f"({seen}); emulated {precision} would be slower than fp32. Use {other}, or a GPU "
                            "with precision='fp32'")
