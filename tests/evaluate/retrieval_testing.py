"""Helpers for the retrieval tests: tiny generated BEIR datasets and a deterministic hashing encoder.

The generated collection has topics: each document draws most of its words from its topic's
words, and each query draws its words from the documents it is about, so a bag-of-words encoder
ranks the relevant documents high, but not always first. Corpus ids are ``d000, d001, ...``: their
string order is the corpus order, so every tie-breaking rule (corpus order, id order) agrees.

The default dataset also plants the cases the metrics must handle:

- graded relevance (2 for the document a query was written from, 1 for the others, 0 for judged
  non-relevant documents of the same topic);
- a relevant document that is not in the corpus (``d999``): it counts as relevant, never found;
- a query judged with relevance 0 only (``q_none``): every metric is 0 for it;
- a query whose id is a corpus id (``d007``) and whose text is that document's text (ArguAna
  style: the relevant document is another one, ``d008``): it would find itself first unless
  identical ids are skipped;
- a query that no qrels line judges (``q_unjudged``): not part of the split.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embspace import EmbeddingVector, Provenance

TOPICS = ("astro", "botany", "cardio", "dental", "ecology", "finance")
WORDS_PER_TOPIC = 9
GENERAL = tuple(f"common{i}" for i in range(12))


@dataclass
class Collection:
    """Documents ``(id, title, text)``, queries ``(id, text)`` and qrels ``(qid, doc_id, relevance)``."""

    corpus: list[tuple[str, str, str]] = field(default_factory=list)
    queries: list[tuple[str, str]] = field(default_factory=list)
    qrels: list[tuple[str, str, int]] = field(default_factory=list)

    def qrels_dict(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for q, d, r in self.qrels:
            out.setdefault(q, {})[d] = r
        return out

    def doc_text(self, doc_id: str) -> str:
        """The text an encoder sees: ``(title + " " + text).strip()``."""
        return next((t + " " + x).strip() for i, t, x in self.corpus if i == doc_id)


def make_collection(seed: int = 0, n_docs: int = 42, n_queries: int = 14, graded: bool = True,
                    special: bool = True) -> Collection:
    """A seeded collection; ``graded=False`` gives binary relevance, ``special=False`` leaves out the
    planted edge cases (for comparisons with tools that define them differently)."""
    rng = np.random.default_rng(seed)
    col = Collection()
    topic_of: dict[str, int] = {}
    words: dict[str, list[str]] = {}
    for i in range(n_docs):
        doc_id = f"d{i:03d}"
        t = int(rng.integers(len(TOPICS)))
        vocab = [f"{TOPICS[t]}{j}" for j in range(WORDS_PER_TOPIC)]
        body = [str(rng.choice(vocab)) if rng.random() < 0.7 else str(rng.choice(GENERAL))
                for _ in range(int(rng.integers(6, 14)))]
        title = " ".join(str(w) for w in rng.choice(vocab, 2, replace=False)) if i % 5 else ""  # some untitled
        col.corpus.append((doc_id, title, " ".join(body)))
        topic_of[doc_id] = t
        words[doc_id] = title.split() + body
    ids = [d for d, _, _ in col.corpus]
    for qi in range(n_queries):
        qid = f"q{qi:02d}"
        target = str(rng.choice(ids))
        same_topic = [d for d in ids if topic_of[d] == topic_of[target] and d != target]
        others = [str(d) for d in rng.choice(same_topic, min(len(same_topic), int(rng.integers(0, 3))),
                                             replace=False)] if same_topic else []
        pool = words[target] * 2 + [w for d in others for w in words[d]]
        col.queries.append((qid, " ".join(str(w) for w in rng.choice(pool, int(rng.integers(3, 7))))))
        col.qrels.append((qid, target, 2 if graded else 1))
        col.qrels += [(qid, d, 1) for d in others]
        negatives = [d for d in same_topic if d not in others][:1]
        col.qrels += [(qid, d, 0) for d in negatives]
    if special:
        col.qrels.append(("q00", "d999", 1))
        col.queries.append(("q_none", "ecology0 ecology1 common3"))
        col.qrels.append(("q_none", "d001", 0))
        col.queries.append(("d007", col.doc_text("d007")))
        col.qrels.append(("d007", ids[(7 + 1) % n_docs], 1))
        col.queries.append(("q_unjudged", "astro1 astro2"))
    return col


def write_beir(root: Path, col: Collection, *, split: str = "test", gzip_corpus: bool = False,
               header: bool = True, crlf: bool = False, extra_splits: Sequence[str] = ()) -> Path:
    """Write ``col`` in the BEIR layout under ``root`` (created) and return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "qrels").mkdir(exist_ok=True)
    corpus = "".join(json.dumps({"_id": i, "title": t, "text": x, "metadata": {}}) + "\n" for i, t, x in col.corpus)
    if gzip_corpus:
        with gzip.open(root / "corpus.jsonl.gz", "wt", encoding="utf-8") as f:
            f.write(corpus)
    else:
        (root / "corpus.jsonl").write_text(corpus, encoding="utf-8")
    queries = "".join(json.dumps({"_id": i, "text": x, "metadata": {}}) + "\n" for i, x in col.queries)
    (root / "queries.jsonl").write_text(queries, encoding="utf-8")
    end = "\r\n" if crlf else "\n"
    lines = (["query-id\tcorpus-id\tscore"] if header else []) + [f"{q}\t{d}\t{r}" for q, d, r in col.qrels]
    for name in (split, *extra_splits):
        (root / "qrels" / f"{name}.tsv").write_bytes((end.join(lines) + end).encode())
    return root


class HashingEncoder:
    """A bag-of-words encoder: a text is the sum of one seeded Gaussian vector per word.

    Deterministic across runs and machines (the seed of a word is its CRC-32), cheap, and
    meaningful: texts that share words have a high cosine; texts that do not, a cosine near 0.
    """

    modality = "text"

    def __init__(self, dim: int = 32, name: str = "hashing-bow") -> None:
        self.dim = dim
        self.name = name
        self.calls: list[dict[str, Any]] = []
        self._cache: dict[str, np.ndarray] = {}
        self._provenance = Provenance(model=name, config={"dim": dim})

    @property
    def provenance(self) -> Provenance:
        return self._provenance

    @property
    def space_id(self) -> str:
        return self._provenance.space_id

    def _word(self, w: str) -> np.ndarray:
        if w not in self._cache:
            self._cache[w] = np.random.default_rng(zlib.crc32(w.encode())).standard_normal(self.dim)
        return self._cache[w]

    def vectors(self, texts: Sequence[str], normalize: bool = True) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float64)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i] += self._word(w)
        if normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
        return out.astype(np.float32)

    def encode(self, items: Sequence[str], *, batch_size: int | None = None, normalize: bool = True,
               progress: bool = True) -> EmbeddingVector:
        self.calls.append({"n": len(items), "batch_size": batch_size, "normalize": normalize, "progress": progress})
        return EmbeddingVector(self.vectors(list(items), normalize), self.space_id, self.name)


class STHashingModel:
    """The same hashing encoder behind the interface sentence-transformers' evaluators call."""

    def __init__(self, encoder: HashingEncoder) -> None:
        self.encoder = encoder
        self.model_card_data = self  # the evaluator stores its metrics here

    def set_evaluation_metrics(self, *args: Any, **kwargs: Any) -> None:
        pass

    def encode(self, sentences: Sequence[str], **kwargs: Any) -> Any:
        import torch

        return torch.from_numpy(self.encoder.vectors(list(sentences), normalize=False))

    encode_query = encode
    encode_document = encode


class STEncoder:
    """A sentence-transformers model's own ``encode`` as an encoder: the very vectors its evaluator sees."""

    def __init__(self, model: Any, name: str = "st-direct") -> None:
        self.model = model
        self.name = name

    def encode(self, items: Sequence[str], *, batch_size: int | None = None, normalize: bool = True,
               progress: bool = True) -> np.ndarray:
        return np.asarray(self.model.encode(list(items), batch_size=batch_size or 32, normalize_embeddings=normalize,
                                            convert_to_numpy=True, show_progress_bar=False))


def build_tiny_sentence_transformer(root: Path, words: Sequence[str], dim: int = 16) -> Path:
    """A randomly initialised 2-layer BERT (seeded, position embeddings zeroed) with mean pooling over a
    word-level vocabulary, saved as a sentence-transformers model directory."""
    import torch
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer import modules as models
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers import models  # type: ignore[no-redef]
    from transformers import BertConfig, BertModel, BertTokenizerFast

    hf_dir = root / "hf"
    hf_dir.mkdir(parents=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(words))]
    (hf_dir / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(str(hf_dir / "vocab.txt")).save_pretrained(hf_dir)  # positional: vocab_file (v4), vocab (v5)
    config = BertConfig(vocab_size=len(vocab), hidden_size=dim, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=2 * dim, max_position_embeddings=64)
    torch.manual_seed(0)
    bert = BertModel(config)
    with torch.no_grad():  # no position or segment signal: the model is then close to a bag of words,
        bert.embeddings.position_embeddings.weight.zero_()  # so retrieval with it is meaningful
        bert.embeddings.token_type_embeddings.weight.zero_()
    bert.save_pretrained(hf_dir)
    word = models.Transformer(str(hf_dir), max_seq_length=48)
    dim_of = getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension
    st_dir = root / "st"
    SentenceTransformer(modules=[word, models.Pooling(dim_of(), pooling_mode="mean")], device="cpu").save(str(st_dir))
    return st_dir


def st_evaluator_inputs(col: Collection) -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    """``queries``, ``corpus`` and ``relevant_docs`` as sentence-transformers' evaluator takes them (texts as
    BEIR builds them; relevant = judged > 0)."""
    corpus = {i: (t + " " + x).strip() for i, t, x in col.corpus}
    relevant: dict[str, set[str]] = {}
    for q, d, r in col.qrels:
        if r > 0:
            relevant.setdefault(q, set()).add(d)
    return dict(col.queries), corpus, relevant
