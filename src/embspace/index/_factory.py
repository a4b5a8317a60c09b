"""FactorySpec: a FAISS factory string parsed once, for every part of embspace that reads one.

:class:`~embspace.index.FaissIndex` builds from it, :func:`~embspace.index.estimate_memory` sizes
it and the Milvus backend maps it to its own index types; all three read the same
:class:`FactorySpec` instead of splitting the string their own way.

The grammar is the subset of FAISS's ``index_factory`` that embspace uses, comma-separated::

    [transform,]... index [,Refine(encoding) | ,RFlat]  |  binary

    transform  OPQ<m>[_<d>] | PCA[W][R]<d> | RR<d> | L2norm | ITQ[<d>] | Pad<d>
    index      Flat | HNSW[<M>][_<encoding> | ,<encoding>] | NSG[<R>][_<encoding>] | IVF<nlist>[_HNSW<M>],<encoding>
               | PQ<m>[x<bits>][fs|np] | SQ4 | SQ6 | SQ8 | SQfp16 | SQbf16 | LSH
    encoding   Flat | PQ<m>[x<bits>][fs|np] | SQ4 | SQ6 | SQ8 | SQfp16 | SQbf16
    binary     BinaryFlat | BinaryHNSW[<M>] | BinaryIVF<nlist>

A binary index (:class:`~embspace.index.BinaryIndex`) keeps the sign bits of the vectors, 8 per byte,
and searches by Hamming distance (FAISS's ``IndexBinaryFlat``, ``IndexBinaryHNSW``, ``IndexBinaryIVF``);
it stands alone (no transform, no refinement: a collection re-scores its candidates with ``rescore=``).

Keywords are read case-insensitively and written back in FAISS's spelling, so ``str(spec)`` is the
canonical string and ``FactorySpec.parse(str(spec)) == spec``. A string outside the grammar raises
:class:`~embspace.errors.InvalidInputError` naming the part that is wrong and the nearest valid one.

>>> spec = FactorySpec.parse("ivf1024, pq32")
>>> str(spec), spec.nlist, spec.pq_m, spec.search_params
('IVF1024,PQ32', 1024, 32, ('nprobe',))
>>> FactorySpec.parse("HNSW32").with_refine()
FactorySpec('HNSW32,Refine(Flat)')
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace
from typing import Literal

from ..errors import InvalidInputError

__all__ = ["EXAMPLES", "LIMITS", "FactorySpec", "available_memory"]

IndexKind = Literal["Flat", "HNSW", "NSG", "IVF", "PQ", "SQ", "LSH", "BinaryFlat", "BinaryHNSW", "BinaryIVF"]

EXAMPLES = "'Flat', 'HNSW32', 'IVF1024,Flat', 'IVF4096,PQ32', 'SQ8', 'OPQ16,IVF1024,PQ16', 'IVF1024,PQ16,Refine(Flat)'"
DEFAULT_GRAPH_M = 32  # FAISS's M for a bare "HNSW" / "NSG"

_ENC = r"flat|pq\d+(?:x\d+)?(?:fs|np)?|sq(?:4|6|8|fp16|bf16)"
_TRANSFORM = re.compile(r"opq\d+(?:_\d+)?|pcaw?r?\d+|rr\d+|l2norm|itq\d*|pad\d+", re.IGNORECASE)
_GRAPH = re.compile(rf"(hnsw|nsg)(\d*)(?:_({_ENC}))?", re.IGNORECASE)
_IVF = re.compile(r"ivf(\d+)(?:_hnsw(\d+))?", re.IGNORECASE)
_ENCODING = re.compile(_ENC, re.IGNORECASE)
_BINARY = re.compile(r"binary(?:(flat)|hnsw(\d*)|ivf(\d+))", re.IGNORECASE)
_REFINE = re.compile(rf"refine\(({_ENC})\)|(rflat)", re.IGNORECASE)
#: The bounds every new index's factory string must keep (see :meth:`FactorySpec.check_limits`).
LIMITS = {
    "graph_m": 256,          # HNSW<M>, NSG<R>, IVF<n>_HNSW<M>: FAISS's graphs are built for M in 4..64
    "nlist": 1 << 20,        # IVF<nlist>: 2**20 lists serve a billion vectors (FAISS's own guideline)
    "pq_m": 4096,            # PQ<m>: sub-quantizers (also at most the dimension, checked by FAISS)
    "pq_nbits": 16,          # PQ<m>x<bits>: 2**16 centroids per sub-quantizer
    "transform_dim": 16384,  # PCA<d>, RR<d>, OPQ<m>_<d>, ITQ<d>, Pad<d>: output dimension
    "memory_fraction": 4,    # the fixed memory of an index: at most 1/4 of the available memory
}
IVF_LIST_BYTES = 160  # what FAISS holds per inverted list before any vector is added (lists, ids, direct map)


def available_memory() -> int:
    """Bytes of memory available to new allocations (``MemAvailable`` of ``/proc/meminfo``, else the
    free physical pages; 8 GiB when neither can be read)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return 8 << 30


def _mib(n: float) -> str:
    return f"{n / (1 << 20):,.0f} MiB"


# What a misspelt part is compared with to suggest the nearest valid one.
_KNOWN = ("Flat", "HNSW32", "NSG32", "IVF1024", "PQ16", "SQ8", "SQfp16", "LSH", "OPQ16", "PCA64", "RR64",
          "L2norm", "ITQ", "Pad64", "Refine(Flat)", "Refine(SQ8)", "RFlat", "BinaryFlat", "BinaryHNSW32",
          "BinaryIVF1024")


def _canonical_encoding(text: str) -> str:
    low = text.lower()
    if low == "flat":
        return "Flat"
    if low.startswith("pq"):
        m = re.fullmatch(r"pq(\d+)(x\d+)?(fs|np)?", low)
        assert m is not None
        return f"PQ{int(m.group(1))}{m.group(2) or ''}{m.group(3) or ''}"
    return "SQ" + low[2:]  # SQ8, SQfp16, SQbf16


def _canonical_transform(text: str) -> str:
    low = text.lower()
    for word in ("opq", "pca", "rr", "itq", "pad"):
        if low.startswith(word):
            rest = low[len(word):]
            if word == "pca":
                return "PCA" + rest.upper()  # PCAW64, PCAR64, PCAWR64
            return {"opq": "OPQ", "rr": "RR", "itq": "ITQ", "pad": "Pad"}[word] + rest
    return "L2norm"


def _suggest(part: str) -> str:
    shape = re.sub(r"\d+", "", part).lower()
    known = {re.sub(r"\d+", "", k).lower(): k for k in _KNOWN}
    close = difflib.get_close_matches(shape, list(known), n=1, cutoff=0.5)
    if not close:
        return ""
    guess = known[close[0]]
    if guess.lower() == part.lower():
        return ""
    digits = re.findall(r"\d+", part)
    if digits and re.search(r"\d", guess):  # keep the user's number: "HSNW16" -> "HNSW16"
        guess = re.sub(r"\d+", digits[0], guess, count=1)
    return f" (did you mean {guess!r}?)"


@dataclass(frozen=True)
class FactorySpec:
    """A parsed FAISS factory string (see the module docs for the grammar).

    Attributes
    ----------
    transforms
        Leading vector transforms in FAISS spelling (``("OPQ16",)``), applied before the index.
    index
        The index proper: ``"Flat"``, ``"HNSW"``, ``"NSG"``, ``"IVF"``, ``"PQ"``, ``"SQ"`` or ``"LSH"``.
    graph_m
        The graph degree of ``HNSW<M>``/``NSG<R>`` as written (``None``: FAISS's default, 32).
    nlist
        The number of inverted lists of ``IVF<nlist>``.
    coarse
        The coarse quantizer of ``IVF<nlist>_HNSW<M>`` (``"HNSW32"``); ``None`` for a flat one.
    encoding
        How vectors are stored: the codes of an IVF (``"Flat"``, ``"PQ32"``, ``"SQ8"``), the storage
        of a graph (``None``: full vectors) or the codec of a bare ``PQ``/``SQ`` index.
    refine
        The re-ranking storage of ``Refine(<encoding>)`` (``"Flat"``, ``"SQ8"``), or ``None``.
    refine_alias
        Whether the refinement was written ``RFlat`` (FAISS's alias of ``Refine(Flat)``).
    """

    transforms: tuple[str, ...] = ()
    index: IndexKind = "Flat"
    graph_m: int | None = None
    nlist: int | None = None
    coarse: str | None = None
    encoding: str | None = None
    refine: str | None = None
    refine_alias: bool = False

    # ----------------------------------------------------------------- parsing
    @classmethod
    def parse(cls, factory: object) -> FactorySpec:
        """Parse a factory string; :class:`~embspace.errors.InvalidInputError` (with the nearest valid
        part) when it is not one."""
        if isinstance(factory, FactorySpec):
            return factory
        if not isinstance(factory, str) or not factory.strip():
            raise InvalidInputError(f"factory must be a FAISS factory string such as {EXAMPLES}; got {factory!r}")
        text = factory.replace(" ", "")
        parts = text.split(",")

        def bad(part: str, why: str) -> InvalidInputError:
            return InvalidInputError(f"factory {factory!r}: {why}{_suggest(part) if part else ''}. "
                                     f"Examples: {EXAMPLES}")

        if any(p.upper().startswith("IDMAP") for p in parts):
            raise InvalidInputError(f"factory {factory!r}: drop the IDMap part; embspace maps the caller's ids itself")
        b = _BINARY.fullmatch(parts[-1]) if parts else None
        if b is not None or any(_BINARY.fullmatch(p) for p in parts):
            if b is None or len(parts) > 1:
                raise InvalidInputError(f"factory {factory!r}: a binary index stands alone ('BinaryFlat', "
                                        "'BinaryHNSW32', 'BinaryIVF1024'): no transform or refinement; re-score its "
                                        "candidates with a collection's rescore= instead")
            if b.group(1):
                return cls(index="BinaryFlat")
            if b.group(3) is not None:
                if int(b.group(3)) < 1:
                    raise bad("", "BinaryIVF needs at least one list")
                return cls(index="BinaryIVF", nlist=int(b.group(3)))
            m = int(b.group(2)) if b.group(2) else None
            if m is not None and m < 2:
                raise bad("", f"BinaryHNSW needs a degree of at least 2, got {m}")
            return cls(index="BinaryHNSW", graph_m=m)
        i = 0
        transforms: list[str] = []
        while i < len(parts) and _TRANSFORM.fullmatch(parts[i]):
            transforms.append(_canonical_transform(parts[i]))
            i += 1
        if i == len(parts) or not parts[i]:
            raise bad("", "no index after the transforms (expected Flat, HNSW<M>, IVF<nlist>,<encoding>, PQ<m> "
                          "or SQ8 next)")
        main = parts[i]
        i += 1
        spec: FactorySpec
        if main.lower() == "flat":
            spec = cls(index="Flat")
        elif main.lower() == "lsh":
            spec = cls(index="LSH")
        elif g := _GRAPH.fullmatch(main):
            kind: IndexKind = "HNSW" if g.group(1).lower() == "hnsw" else "NSG"
            m = int(g.group(2)) if g.group(2) else None
            if m is not None and m < 2:
                raise bad(main, f"{kind} needs a degree of at least 2, got {m}")
            enc_text = g.group(3)
            if enc_text is None and i < len(parts) and _ENCODING.fullmatch(parts[i]) and not _REFINE.fullmatch(
                    parts[i]):  # FAISS also reads "HNSW32,SQ8" as "HNSW32_SQ8": the graph's storage
                enc_text = parts[i]
                i += 1
            spec = cls(index=kind, graph_m=m, encoding=_canonical_encoding(enc_text) if enc_text else None)
        elif v := _IVF.fullmatch(main):
            nlist = int(v.group(1))
            if nlist < 1:
                raise bad(main, "IVF needs at least one list")
            if i == len(parts) or not _ENCODING.fullmatch(parts[i]):
                got = f"got {parts[i]!r}" if i < len(parts) and parts[i] else "got nothing"
                raise bad(parts[i] if i < len(parts) else "",
                          f"IVF{nlist} must be followed by its encoding ('IVF{nlist},Flat', 'IVF{nlist},PQ<m>' or "
                          f"'IVF{nlist},SQ8'), {got}")
            enc = _canonical_encoding(parts[i])
            i += 1
            spec = cls(index="IVF", nlist=nlist, coarse=f"HNSW{int(v.group(2))}" if v.group(2) else None,
                       encoding=enc)
        elif _ENCODING.fullmatch(main) and main.lower() != "flat":
            enc = _canonical_encoding(main)
            spec = cls(index="PQ" if enc.startswith("PQ") else "SQ", encoding=enc)
        else:
            raise bad(main, f"{main!r} is not an index embspace knows (expected Flat, HNSW<M>, "
                            "IVF<nlist>,<encoding>, PQ<m>, SQ8 or LSH, after optional transforms such as OPQ<m>; or a "
                            "binary index alone: BinaryFlat, BinaryHNSW<M>, BinaryIVF<nlist>)")
        refine, alias = None, False
        if i < len(parts):
            r = _REFINE.fullmatch(parts[i])
            if r is None:
                raise bad(parts[i], f"unexpected part {parts[i]!r} after the index (only a refinement, "
                                    "Refine(Flat), Refine(SQ8) or RFlat, may follow)")
            refine, alias = ("Flat", True) if r.group(2) else (_canonical_encoding(r.group(1)), False)
            i += 1
        if i < len(parts):
            raise bad(parts[i], f"unexpected part {parts[i]!r} after the refinement")
        return replace(spec, transforms=tuple(transforms), refine=refine, refine_alias=alias)

    # ----------------------------------------------------------------- text
    def __str__(self) -> str:
        if self.index == "BinaryHNSW":
            return f"BinaryHNSW{'' if self.graph_m is None else self.graph_m}"
        if self.index == "BinaryIVF":
            return f"BinaryIVF{self.nlist}"
        parts = list(self.transforms)
        if self.index in ("HNSW", "NSG"):
            main = f"{self.index}{'' if self.graph_m is None else self.graph_m}"
            parts.append(main if self.encoding is None else f"{main}_{self.encoding}")
        elif self.index == "IVF":
            parts.append(f"IVF{self.nlist}" + ("" if self.coarse is None else f"_{self.coarse}"))
            parts.append(str(self.encoding))
        elif self.index in ("PQ", "SQ"):
            parts.append(str(self.encoding))
        else:
            parts.append(self.index)
        if self.refine is not None:
            parts.append("RFlat" if self.refine_alias else f"Refine({self.refine})")
        return ",".join(parts)

    def __repr__(self) -> str:
        return f"FactorySpec({str(self)!r})"

    # ----------------------------------------------------------------- derived facts
    @property
    def is_graph(self) -> bool:
        """Whether the index proper is a graph (HNSW, NSG)."""
        return self.index in ("HNSW", "NSG")

    @property
    def is_ivf(self) -> bool:
        return self.index == "IVF"

    @property
    def is_binary(self) -> bool:
        """Whether this is a binary (sign-bit, Hamming) index: ``BinaryFlat``, ``BinaryHNSW<M>``, ``BinaryIVF<n>``."""
        return self.index.startswith("Binary")

    @property
    def binary_m(self) -> int | None:
        """The graph degree of ``BinaryHNSW<M>`` (FAISS's default, 32, when not written)."""
        return (self.graph_m or DEFAULT_GRAPH_M) if self.index == "BinaryHNSW" else None

    @property
    def m(self) -> int | None:
        """The graph degree, FAISS's default (32) when not written; ``None`` for other indexes."""
        return (self.graph_m or DEFAULT_GRAPH_M) if self.is_graph else None

    @property
    def pq_m(self) -> int | None:
        """Bytes (sub-quantizers) of a PQ encoding, ``None`` without one."""
        if self.encoding is None or not self.encoding.startswith("PQ"):
            return None
        return int(re.match(r"PQ(\d+)", self.encoding).group(1))  # type: ignore[union-attr]

    @property
    def pq_nbits(self) -> int | None:
        """Bits per PQ sub-code (8 unless written ``PQ<m>x<bits>``)."""
        if self.pq_m is None:
            return None
        assert self.encoding is not None
        x = re.search(r"x(\d+)", self.encoding)
        return int(x.group(1)) if x else 8

    @property
    def sq_bits(self) -> int | None:
        """Bits per dimension of an SQ encoding (16 for fp16/bf16), ``None`` without one."""
        if self.encoding is None or not self.encoding.startswith("SQ"):
            return None
        rest = self.encoding[2:]
        return 16 if rest in ("fp16", "bf16") else int(rest)

    @property
    def stores_exact_vectors(self) -> bool:
        """Whether the full float32 vectors are kept (flat storage, or a ``Refine(Flat)``), as written;
        transforms that are not rotations can still make the kept vectors inexact."""
        if self.refine == "Flat":
            return True
        return self.index == "Flat" or (self.index in ("HNSW", "NSG") and self.encoding in (None, "Flat")) or (
            self.index == "IVF" and self.encoding == "Flat")

    @property
    def search_params(self) -> tuple[str, ...]:
        """The search-time options the index takes: ``efSearch`` (HNSW), ``nprobe`` (IVF), ``k_factor``
        (a refinement: candidates per hit re-ranked)."""
        out: list[str] = []
        if self.index in ("HNSW", "BinaryHNSW"):
            out.append("efSearch")
        if self.index in ("IVF", "BinaryIVF"):
            out.append("nprobe")
        if self.refine is not None:
            out.append("k_factor")
        return tuple(out)

    def _transform_dims(self) -> list[tuple[str, int]]:
        out = []
        for t in self.transforms:
            digits = re.findall(r"\d+", t)
            if digits:
                out.append((t, int(digits[-1])))
        return out

    def fixed_memory(self, dim: int) -> int:
        """Bytes the index holds before any vector is added, for vectors of ``dim`` dimensions: IVF
        centroids and empty lists, PQ codebooks, transform matrices (a lower bound, used by
        :meth:`check_limits`)."""
        total = 0
        d = dim
        if self.is_binary:  # the coarse centroids of a BinaryIVF are binary codes too
            return self.nlist * (-(-dim // 8) + IVF_LIST_BYTES) if self.nlist is not None else 0
        for _, out in self._transform_dims():
            total += 4 * d * out  # a d x out matrix (PCA, RR, OPQ, ITQ); Pad: none, harmless overcount
            d = out
        if self.nlist is not None:
            total += self.nlist * (4 * d + IVF_LIST_BYTES)
        for enc in (self.encoding, self.refine):
            if enc is not None and enc.startswith("PQ"):
                m = int(re.match(r"PQ(\d+)", enc).group(1))  # type: ignore[union-attr]
                x = re.search(r"x(\d+)", enc)
                total += 4 * (1 << min(int(x.group(1)) if x else 8, 62)) * max(d, m)
        return total

    def limit_violations(self, dim: int | None = None, *, available: int | None = None) -> list[str]:
        """The bounds of :data:`LIMITS` this factory breaks (empty when it keeps them all); with
        ``dim``, also the memory rule: the index's :meth:`fixed_memory` must fit in a quarter of the
        ``available`` memory (default: :func:`available_memory`)."""
        out: list[str] = []
        graph = [("graph degree", self.graph_m)]
        if self.coarse is not None:
            graph.append(("coarse HNSW degree", int(self.coarse[4:])))
        for what, m in graph:
            if m is not None and m > LIMITS["graph_m"]:
                out.append(f"the {what} {m} is above {LIMITS['graph_m']} (FAISS graphs use 4..64; more only "
                           "costs memory)")
        if self.nlist is not None and self.nlist > LIMITS["nlist"]:
            out.append(f"IVF{self.nlist} has more than {LIMITS['nlist']:,} lists (2**20 serve a billion vectors; "
                       "use about 4*sqrt(n) to 16*sqrt(n) for n vectors)")
        for enc in (self.encoding, self.refine):
            if enc is not None and enc.startswith("PQ"):
                m = int(re.match(r"PQ(\d+)", enc).group(1))  # type: ignore[union-attr]
                x = re.search(r"x(\d+)", enc)
                bits = int(x.group(1)) if x else 8
                if not 1 <= m <= LIMITS["pq_m"]:
                    out.append(f"{enc} has {m} sub-quantizers; expected 1 to {LIMITS['pq_m']} (and a divisor "
                               "of the dimension)")
                if not 1 <= bits <= LIMITS["pq_nbits"]:
                    out.append(f"{enc} has {bits} bits per code; expected 1 to {LIMITS['pq_nbits']}")
        for t, d in self._transform_dims():
            if d > LIMITS["transform_dim"]:
                out.append(f"the transform {t} outputs {d} dimensions, above {LIMITS['transform_dim']:,}")
        if dim is not None and not out:
            avail = available_memory() if available is None else int(available)
            need = self.fixed_memory(int(dim))
            if need * LIMITS["memory_fraction"] > avail:
                out.append(f"it would hold {_mib(need)} before the first vector (dim {dim}), more than a quarter "
                           f"of the {_mib(avail)} of memory available; use fewer lists or smaller codes")
        return out

    def check_limits(self, dim: int | None = None, *, available: int | None = None) -> None:
        """Raise :class:`~embspace.errors.InvalidInputError` when the factory breaks a bound of
        :data:`LIMITS` or the memory rule (see :meth:`limit_violations`); every new index is checked."""
        bad = self.limit_violations(dim, available=available)
        if bad:
            raise InvalidInputError(f"factory {str(self)!r} is beyond embspace's limits: {'; '.join(bad)}. "
                                    f"Examples within them: {EXAMPLES}")

    def clamped(self, dim: int | None = None, *, available: int | None = None) -> FactorySpec:
        """The nearest factory within the limits (graph degrees, lists, PQ bits and transform
        dimensions cut to their bound; lists halved until the memory rule holds). Used to rebuild an
        existing collection whose stored factory predates the limits."""
        spec = self
        if spec.graph_m is not None:
            spec = replace(spec, graph_m=min(spec.graph_m, LIMITS["graph_m"]))
        if spec.coarse is not None:
            spec = replace(spec, coarse=f"HNSW{min(int(spec.coarse[4:]), LIMITS['graph_m'])}")
        if spec.nlist is not None:
            spec = replace(spec, nlist=min(spec.nlist, LIMITS["nlist"]))

        def enc_ok(enc: str | None) -> str | None:
            if enc is None or not enc.startswith("PQ"):
                return enc
            g = re.fullmatch(r"PQ(\d+)(?:x(\d+))?(fs|np)?", enc)
            assert g is not None
            m = min(max(int(g.group(1)), 1), LIMITS["pq_m"])
            bits = "" if g.group(2) is None else f"x{min(max(int(g.group(2)), 1), LIMITS['pq_nbits'])}"
            return f"PQ{m}{bits}{g.group(3) or ''}"

        spec = replace(spec, encoding=enc_ok(spec.encoding), refine=enc_ok(spec.refine),
                       transforms=tuple(re.sub(r"\d+$", lambda mt: str(min(int(mt.group()), LIMITS["transform_dim"])),
                                               t) for t in spec.transforms))
        if dim is not None:
            while spec.nlist is not None and spec.nlist > 1 and spec.limit_violations(dim, available=available):
                spec = replace(spec, nlist=max(1, spec.nlist // 2))
        return spec

    def with_refine(self, encoding: str = "Flat") -> FactorySpec:
        """The same index with exact re-ranking by ``encoding`` storage (unchanged when it has one)."""
        if self.refine is not None:
            return self
        if self.is_binary:
            raise InvalidInputError(f"{self} is a binary index: it takes no Refine(); a collection re-scores its "
                                    "candidates with the float vectors (rescore=)")
        if not _ENCODING.fullmatch(encoding):
            raise InvalidInputError(f"a refinement stores vectors as Flat, SQ8, SQfp16 or PQ<m>, got {encoding!r}")
        return replace(self, refine=_canonical_encoding(encoding))
