"""The options of every command that encodes texts with a model or searches a collection, defined once: the
size of the vectors (``--dim``, Matryoshka truncation) and the depth of rescoring (``--rescore``), as the
library's :func:`embspace.encoders.get_encoder` and :meth:`embspace.store.Collection.search` take them."""

from __future__ import annotations

from typing import Annotated

import typer

TruncateDimOpt = Annotated[int | None, typer.Option(
    "--dim", help="Keep the first N dimensions of the model's vectors, re-normalised (Matryoshka truncation; a "
                  "warning when the model was not trained for N; the provenance records it) [default: all].")]
_RESCORE = ("Re-score the index's best k x N candidates exactly with the float vectors and keep the best k (the "
            "recall of a quantised index: BinaryHNSW32, HNSW32,SQ8, IVF...,PQ...); 0: none")
RescoreOpt = Annotated[int | None, typer.Option(
    "--rescore", help=f"{_RESCORE} [default: the collection's own, set by 'collection create --rescore'].")]
CreateRescoreOpt = Annotated[int | None, typer.Option(
    "--rescore", help=f"{_RESCORE}. Kept with the collection; 'embspace search --rescore' overrides it per "
                      "query [default: none].")]

__all__ = ["CreateRescoreOpt", "RescoreOpt", "TruncateDimOpt"]
