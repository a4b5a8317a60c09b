"""Reading retrieval datasets in the BEIR layout: corpus.jsonl[.gz], queries.jsonl[.gz], qrels/<split>.tsv."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import _html
from .._ranking import lines as _lines
from .._ranking import read_qrels as _read_qrels
from ..errors import CorruptDataError, InvalidInputError

__all__ = ["BeirDataset", "load_beir"]

_LAYOUT = ("a BEIR dataset directory holds corpus.jsonl (or .jsonl.gz), queries.jsonl (or .jsonl.gz) and "
           "qrels/<split>.tsv")


@dataclass(frozen=True, eq=False)
class BeirDataset:
    """A retrieval test collection: documents, the queries of one split, and their relevance judgements.

    Attributes
    ----------
    name
        The dataset's name (its directory name when loaded by :func:`load_beir`).
    split
        The split whose qrels were read (``"test"``, ``"dev"``, ``"train"``).
    corpus_ids, corpus_texts
        The documents in file order; a text is ``(title + " " + text).strip()``, as BEIR's
        ``SentenceBERT`` model and sentence-transformers' examples build it.
    query_ids, query_texts
        The queries judged in the split's qrels, in the order they first appear there (as BEIR).
    qrels
        ``{query_id: {doc_id: relevance}}``. A relevance ``<= 0`` means judged not relevant. A judged
        document need not be in the corpus; it still counts as a relevant document that was not found.
    """

    name: str
    split: str
    corpus_ids: tuple[str, ...]
    corpus_texts: tuple[str, ...]
    query_ids: tuple[str, ...]
    query_texts: tuple[str, ...]
    qrels: Mapping[str, Mapping[str, int]]

    def __post_init__(self) -> None:
        if len(self.corpus_ids) != len(self.corpus_texts):
            raise InvalidInputError(f"{len(self.corpus_ids)} corpus ids but {len(self.corpus_texts)} texts")
        if len(self.query_ids) != len(self.query_texts):
            raise InvalidInputError(f"{len(self.query_ids)} query ids but {len(self.query_texts)} texts")
        missing = [q for q in self.query_ids if q not in self.qrels]
        if missing:
            raise InvalidInputError(f"{len(missing)} queries have no relevance judgements, e.g. {missing[0]!r}; "
                                    "every query of a split must appear in its qrels")

    @property
    def n_docs(self) -> int:
        return len(self.corpus_ids)

    @property
    def n_queries(self) -> int:
        return len(self.query_ids)

    def pairs(self, min_relevance: int = 1) -> list[tuple[str, str]]:
        """(query text, document text) for every judged pair with relevance >= ``min_relevance`` whose
        document is in the corpus: training pairs for :func:`embspace.train.finetune`."""
        doc = dict(zip(self.corpus_ids, self.corpus_texts, strict=True))
        query = dict(zip(self.query_ids, self.query_texts, strict=True))
        return [(query[q], doc[d]) for q, rel in self.qrels.items() if q in query
                for d, r in rel.items() if r >= min_relevance and d in doc]

    def _repr_html_(self) -> str:
        facts = [("name", self.name), ("split", self.split), ("documents", self.n_docs),
                 ("queries", self.n_queries), ("judgements", sum(len(v) for v in self.qrels.values()))]
        n = _html.MAX_ITEMS
        queries = _html.table(zip(self.query_ids[:n], self.query_texts[:n], strict=True), ["query id", "query"],
                              total=self.n_queries, limit=n, more="more queries")
        docs = _html.table(zip(self.corpus_ids[:n], self.corpus_texts[:n], strict=True), ["doc id", "document"],
                           total=self.n_docs, limit=n, more="more documents")
        return _html.frame("BeirDataset", _html.kv_table(facts), queries, docs, subtitle=f"{self.name}/{self.split}")

    def __repr__(self) -> str:
        n_judged = sum(len(v) for v in self.qrels.values())
        return (f"BeirDataset({self.name!r}, split={self.split!r}, docs={self.n_docs}, queries={self.n_queries}, "
                f"judgements={n_judged})")


def _find(root: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (root / name).is_file():
            return root / name
    return None


def _jsonl(path: Path, what: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """``(line number, _id, object)`` of each record of a BEIR ``.jsonl`` file."""
    for lineno, line in _lines(path):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise CorruptDataError(path, f"not a JSON object ({e.msg} at column {e.colno})", line=lineno) from None
        if not isinstance(obj, dict):
            raise CorruptDataError(path, f"expected a JSON object per line, found {type(obj).__name__}",
                                   line=lineno)
        doc_id = obj.get("_id")
        if isinstance(doc_id, bool) or not isinstance(doc_id, str | int) or doc_id == "":
            raise CorruptDataError(path, f"{what} has no '_id' (a string), found {doc_id!r}", line=lineno)
        yield lineno, str(doc_id), obj


def _text_field(obj: dict[str, Any], field: str, path: Path, lineno: int) -> str:
    value = obj.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CorruptDataError(path, f"'{field}' must be a string, found {type(value).__name__}", line=lineno)
    return value


def _read_corpus(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    ids: list[str] = []
    texts: list[str] = []
    seen: dict[str, int] = {}
    for lineno, doc_id, obj in _jsonl(path, "document"):
        if doc_id in seen:
            raise CorruptDataError(path, f"duplicate document id {doc_id!r} (first on line {seen[doc_id]})",
                                   line=lineno)
        seen[doc_id] = lineno
        title = _text_field(obj, "title", path, lineno)
        text = _text_field(obj, "text", path, lineno)
        ids.append(doc_id)
        texts.append((title + " " + text).strip())
    if not ids:
        raise CorruptDataError(path, "no documents")
    return tuple(ids), tuple(texts)


def _read_queries(path: Path) -> tuple[dict[str, str], dict[str, int]]:
    """``{query_id: text}`` (texts as written, like BEIR) and the line of each id."""
    texts: dict[str, str] = {}
    lines: dict[str, int] = {}
    for lineno, qid, obj in _jsonl(path, "query"):
        if qid in lines:
            raise CorruptDataError(path, f"duplicate query id {qid!r} (first on line {lines[qid]})", line=lineno)
        texts[qid] = _text_field(obj, "text", path, lineno)
        lines[qid] = lineno
    return texts, lines


def _splits(qrels_dir: Path) -> list[str]:
    if not qrels_dir.is_dir():
        return []
    return sorted(p.name.removesuffix(".gz").removesuffix(".tsv") for p in qrels_dir.iterdir()
                  if p.is_file() and p.name.endswith((".tsv", ".tsv.gz")))


def load_beir(path: str | Path, split: str = "test") -> BeirDataset:
    """Read a retrieval dataset in the BEIR layout.

    Parameters
    ----------
    path
        The dataset directory: ``corpus.jsonl`` (or ``corpus.jsonl.gz``) with ``_id``, ``title``
        and ``text`` per line; ``queries.jsonl`` (or ``.jsonl.gz``) with ``_id`` and ``text``; and
        ``qrels/<split>.tsv`` with ``query-id``, ``corpus-id`` and an integer ``score`` per line
        (tab-separated, the header line optional).
    split
        Which qrels to read; only the queries judged there are evaluated.

    Returns
    -------
    BeirDataset

    Raises
    ------
    InvalidInputError
        ``path`` is not a dataset directory, or it has no qrels for ``split`` (the message lists
        the splits it has).
    CorruptDataError
        A line is not valid JSON, UTF-8 or ``query-id corpus-id score``, an id is repeated, or a
        judged query is missing from the queries file; the message names the file and the line.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise InvalidInputError(f"{root} is not a directory; {_LAYOUT}")
    corpus_path = _find(root, "corpus.jsonl")
    queries_path = _find(root, "queries.jsonl")
    if corpus_path is None or queries_path is None:
        missing = "corpus.jsonl" if corpus_path is None else "queries.jsonl"
        raise InvalidInputError(f"{root} has no {missing}[.gz]; {_LAYOUT}")
    qrels_path = _find(root / "qrels", f"{split}.tsv")
    if qrels_path is None:
        splits = _splits(root / "qrels")
        found = f"the splits there are: {', '.join(splits)}" if splits else "it has no qrels/*.tsv at all"
        raise InvalidInputError(f"{root} has no qrels for split {split!r} (qrels/{split}.tsv); {found}")
    qrels, first_line = _read_qrels(qrels_path)
    query_text, _ = _read_queries(queries_path)
    unknown = [q for q in qrels if q not in query_text]
    if unknown:
        raise CorruptDataError(qrels_path, f"query id {unknown[0]!r} is not in {queries_path.name} "
                                           f"({len(unknown)} judged queries are missing there)",
                               line=first_line[unknown[0]])
    corpus_ids, corpus_texts = _read_corpus(corpus_path)
    query_ids = tuple(qrels)
    return BeirDataset(name=root.resolve().name, split=split, corpus_ids=corpus_ids, corpus_texts=corpus_texts,
                       query_ids=query_ids, query_texts=tuple(query_text[q] for q in query_ids), qrels=qrels)
