"""``encode_file(..., engine="ray")``: the file-encoding job spread over a Ray cluster with Ray Data.

The job, in order:

1. **Read** (Ray Data, on the cluster): ``read_text`` for .txt and JSONL (line by line, blank lines kept so
   line numbers and row numbers stay those of the single-process path), ``read_parquet``, ``read_csv``,
   ``read_binary_files`` for a folder of text files. A map task parses each batch with the same record rules
   as :func:`~embspace.encoders.file_encoding.read_items` (text fields joined, id field, the other fields as
   metadata) and hashes each content with the content-hash cache's key
   (:meth:`~embspace.encoders.file_encoding.EncodingCache.key`). The parsed rows are materialised.
2. **Plan** (driver): ids, hashes and metadata come back in input order (``preserve_order``); hashes found in
   the cache of the model's space, or in the shards of an interrupted run of the same job, are not encoded.
3. **Encode** (Ray Data ``map_batches`` with a callable class, an actor pool): one encoder actor per CPU
   slot (``torch.set_num_threads`` = its CPUs, so two actors on two CPUs do not oversubscribe), or one per
   GPU when the cluster has GPUs and the device is not ``cpu``. Only the rows still to encode go there.
4. **Collect** (driver): each batch of vectors that comes back is written as one Parquet shard
   (``<output>.ray-shards/part-NNNNNN.parquet``: hash, vector; written to a temporary name, then renamed) and
   put into the cache. A run that stops half way is resumed from its shards: they are not encoded again.
5. **Write**: the space and its metadata, exactly as the single-process path writes them; the shards are
   then removed.

The shards are written by the driver, not by Ray's ``write_parquet`` on the workers: the output lands where
the driver runs (no shared filesystem is needed for it, a ``ray://`` client included), and each batch is
durable as soon as it arrives. The *input* is read by the cluster, so on a multi-node cluster it must be on
a filesystem every node mounts at the same path (local paths only: object-store URIs are not taken yet).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInputError, MissingDependencyError
from ..space.provenance import Provenance
from .encoder import BaseEncoder

#: Rows per batch handed to an encoder actor (and per shard written by the driver).
BATCH_SIZE = 256


def _ray() -> Any:
    try:
        import ray
        import ray.data  # Ray Data is the [data] extra of ray
    except ImportError:
        raise MissingDependencyError("ray[data]", "ray", 'encode_file(..., engine="ray")') from None
    return ray


def _kind(path: Path) -> str:
    if path.is_dir():
        return "dir"
    name = path.name.lower()
    if name.endswith((".txt", ".txt.gz")):
        return "txt"
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        return "jsonl"
    if name.endswith((".csv", ".csv.gz", ".tsv")):
        return "csv"
    if name.endswith(".parquet"):
        return "parquet"
    raise InvalidInputError(f"{path}: unknown input type; use .txt, .jsonl[.gz], .csv, .parquet or a directory")


def _folder_files(root: Path) -> list[Path]:
    """The text files of a folder, chosen as read_items(..., include_all=True) chooses them."""
    from .file_encoding import IMAGE_SUFFIXES, TEXT_SUFFIXES

    files = sorted(f for f in root.rglob("*") if f.is_file() and not f.name.startswith("."))
    images = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
    if images and len(images) >= len(files) / 2:
        raise InvalidInputError(f"{root} is a folder of images; engine='ray' encodes texts: use engine='local' "
                                "for images")
    texts = [f for f in files if f.suffix.lower() in TEXT_SUFFIXES or not f.suffix]
    if not texts:
        raise InvalidInputError(f"{root} holds no text files ({', '.join(sorted(TEXT_SUFFIXES))}) or images")
    return texts


def _read(ray: Any, path: Path, kind: str) -> tuple[Any, list[Path]]:
    """The Ray Dataset of the raw input (and, for a folder, its files in order)."""
    rd = ray.data
    if kind in ("txt", "jsonl"):
        return rd.read_text(str(path), drop_empty_lines=False), []
    if kind == "csv":
        import pyarrow.csv as pacsv

        delimiter = "\t" if path.name.lower().endswith(".tsv") else ","
        return rd.read_csv(str(path), parse_options=pacsv.ParseOptions(delimiter=delimiter)), []
    if kind == "parquet":
        return rd.read_parquet(str(path)), []
    files = _folder_files(path)
    return rd.read_binary_files([str(f) for f in files], include_paths=True), files


class _Parse:
    """Ray map task: raw rows -> ``text``, ``hash`` (content-hash cache key), ``id`` ('' = numbered by the
    driver), ``meta`` (JSON) and ``keep`` (False for blank lines, which the single-process path skips)."""

    def __init__(self, kind: str, text_field: str, id_field: str | None, normalize: bool, source: str,
                 absolute: str) -> None:
        from .file_encoding import _fields

        self.kind, self.id_field, self.normalize = kind, id_field, normalize
        self.fields = _fields(text_field) if kind in ("jsonl", "csv", "parquet") else []
        # the input as the user wrote it (messages, the folder's metadata paths) and as the workers read it
        self.source, self.absolute = Path(source), absolute

    def __call__(self, batch: Any) -> dict[str, Any]:
        from .file_encoding import EncodingCache, _record_item

        texts: list[str] = []
        ids: list[str] = []
        metas: list[str] = []
        keep: list[bool] = []
        if self.kind in ("txt", "jsonl"):
            rows: list[Any] = [str(t) for t in batch.column("text").to_pylist()]
        elif self.kind == "dir":
            rows = list(zip(batch.column("path").to_pylist(), batch.column("bytes").to_pylist(), strict=True))
        else:
            rows = batch.to_pylist()
        for row in rows:
            text, key, meta, ok = "", "", "{}", True
            if self.kind == "txt":
                text = row.strip()
                ok = bool(text)
            elif self.kind == "dir":
                file, data = row
                try:
                    text = bytes(data).decode("utf-8").strip()
                except UnicodeDecodeError:
                    from ..errors import CorruptDataError

                    raise CorruptDataError(file, "not UTF-8 text") from None
                rel = os.path.relpath(file, self.absolute)
                key, meta = rel, json.dumps({"path": str(self.source / rel)})
            else:
                if self.kind == "jsonl":
                    if not row.strip():
                        texts.append("")
                        ids.append("")
                        metas.append("{}")
                        keep.append(False)
                        continue
                    rec = _json_record(row, self.source)
                else:
                    rec = row if self.kind == "parquet" else {k: "" if v is None else str(v) for k, v in row.items()}
                item = _record_item(rec, 0, self.source, self.fields, self.id_field)
                text = str(item.content)
                key = item.id if self.id_field is not None else ""
                meta = json.dumps(item.metadata, ensure_ascii=False, default=str)
            texts.append(text)
            ids.append(key)
            metas.append(meta)
            keep.append(ok)
        hashes = [EncodingCache.key(t, self.normalize) if k else b"" for t, k in zip(texts, keep, strict=True)]
        return {"text": np.array(texts, dtype=object), "hash": np.array(hashes, dtype=object),
                "id": np.array(ids, dtype=object), "meta": np.array(metas, dtype=object),
                "keep": np.array(keep, dtype=bool)}


def _json_record(line: str, source: Path) -> dict[str, Any]:
    from ..errors import CorruptDataError

    try:
        rec = json.loads(line)
    except json.JSONDecodeError as e:
        raise CorruptDataError(source, f"not JSON ({e.msg}): {line[:60]!r}") from None
    if not isinstance(rec, dict):
        raise CorruptDataError(source, f"each line must be a JSON object: {line[:60]!r}")
    return rec


class _KeepHashes:
    """Ray map task: the rows whose hash is in ``todo`` (those still to encode)."""

    def __init__(self, todo: frozenset[bytes]) -> None:
        self.todo = todo

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        mask = np.array([h in self.todo for h in batch["hash"]], dtype=bool)
        return {"hash": batch["hash"][mask], "text": batch["text"][mask]}


class EncoderActor:
    """Ray Data callable class: one encoder per actor, loaded once, encoding batches of texts.

    ``threads`` is the actor's CPU share: torch gets that many threads, so actors sharing a machine do
    not each start a thread per core.
    """

    def __init__(self, model: str, options: dict[str, Any], encoder: BaseEncoder | None, normalize: bool,
                 batch_size: int | None, threads: int) -> None:
        try:
            import torch

            torch.set_num_threads(max(1, threads))
        except ImportError:  # pragma: no cover - static encoders need no torch
            pass
        if encoder is None:
            from .registry import get_encoder

            encoder = get_encoder(model, **options)
        self.encoder = encoder
        self.normalize, self.batch_size = normalize, batch_size

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        texts = [str(t) for t in batch["text"]]
        kwargs: dict[str, Any] = {"progress": False}
        if not self.normalize:
            kwargs["normalize"] = False
        if self.batch_size is not None:
            kwargs["batch_size"] = self.batch_size
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            vectors = np.asarray(self.encoder.encode(texts, **kwargs), dtype=np.float32)
        truncated = 0
        for w in caught:
            if w.category.__name__ == "TruncationWarning":
                truncated = int(getattr(self.encoder, "last_truncated_", 0) or 0)
        counts = np.zeros(len(texts), dtype=np.int64)
        if len(texts):
            counts[0] = truncated  # the batch's count rides on its first row
        return {"hash": batch["hash"], "vector": vectors.reshape(len(texts), -1), "truncated": counts}


# -- shards ------------------------------------------------------------------------------------------------
def shard_dir(output: str | Path) -> Path:
    """Where the Ray job keeps its Parquet shards until the space is written: ``<output>.ray-shards``."""
    out = Path(output).expanduser()
    return out.parent / f"{out.name}.ray-shards"


def _open_shards(folder: Path, job: dict[str, Any]) -> dict[bytes, npt.NDArray[np.float32]]:
    """The vectors of the shards of an interrupted run of the same job (same model space, normalisation);
    shards of another job, and unreadable (half-written) shards, are removed."""
    import pyarrow.parquet as pq

    done: dict[bytes, npt.NDArray[np.float32]] = {}
    header = folder / "job.json"
    if folder.exists():
        same = header.exists() and json.loads(header.read_text("utf-8")) == job
        if not same:
            shutil.rmtree(folder)
        else:
            for part in sorted(folder.glob("part-*.parquet")):
                try:
                    table = pq.read_table(part)
                    hashes = table.column("hash").to_pylist()
                    vectors = np.asarray(table.column("vector").to_pylist(), dtype=np.float32)
                except Exception:  # a shard cut short by the interruption: encoded again
                    part.unlink()
                    continue
                done.update(zip(hashes, vectors, strict=True))
            for tmp in folder.glob("*.tmp"):
                tmp.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    header.write_text(json.dumps(job), "utf-8")
    return done


def _write_shard(folder: Path, n: int, hashes: list[bytes], vectors: npt.NDArray[np.float32]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    dim = vectors.shape[1]
    flat = pa.array(np.ascontiguousarray(vectors, np.float32).reshape(-1), pa.float32())
    table = pa.table({"hash": pa.array(hashes, pa.binary()),
                      "vector": pa.FixedSizeListArray.from_arrays(flat, dim)})
    final = folder / f"part-{n:06d}.parquet"
    tmp = folder / f"part-{n:06d}.parquet.tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, final)


# -- the job -----------------------------------------------------------------------------------------------
def _connect(ray: Any, address: str | None) -> bool:
    """Join the cluster at ``address`` (None: the one this process already joined, else a new local one;
    ``"auto"``: the running local cluster; ``"ray://host:10001"``: a remote one). True when we started it."""
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False}
    if address is not None:
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except ConnectionError as e:
        raise InvalidInputError(f"could not connect to a Ray cluster at {address!r} ({e}); start one with "
                                "`ray start --head`, or leave the address out to start a local one") from None
    return address is None


def _actors(ray: Any, device: str) -> tuple[int, float, float]:
    """(number of actors, CPUs per actor, GPUs per actor): one per GPU when there are GPUs and the device
    allows them, else one per CPU slot."""
    res = ray.cluster_resources()
    gpus = int(res.get("GPU", 0))
    if gpus and device not in ("cpu",):
        cpus = max(1.0, float(res.get("CPU", 1)) // gpus)
        return gpus, min(cpus, 4.0), 1.0
    return max(1, int(res.get("CPU", 1))), 1.0, 0.0


def encode_on_ray(input: Path, output: str | Path, *, address: str | None, model: str,
                  encoder: BaseEncoder | None, info: dict[str, Any], options: dict[str, Any], text_field: str,
                  id_field: str | None, batch_size: int | None, normalize: bool, cache: bool,
                  cache_dir: str | Path | None, format: str | None, progress: bool, t0: float) -> Any:
    """The Ray job behind ``encode_file(..., engine="ray")``; ``info`` names the model space (space_id, dim,
    name, provenance) so that the driver need not hold the model. Returns the EncodeReport."""
    from .file_encoding import EncodingCache, _write

    ray = _ray()
    kind = _kind(input)
    absolute = input.resolve()  # the cluster's workers need not share this process's working directory
    started = _connect(ray, address)
    ctx = ray.data.DataContext.get_current()
    saved = (ctx.execution_options.preserve_order, ctx.enable_progress_bars)
    data_log = logging.getLogger("ray.data")
    saved_level = data_log.level
    try:
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = progress
        if not progress:  # quiet: Ray Data's per-dataset INFO lines too
            data_log.setLevel(logging.WARNING)
        raw, files = _read(ray, absolute, kind)
        parsed = raw.map_batches(_Parse(kind, text_field, id_field, normalize, str(input), str(absolute)),
                                 batch_format="pyarrow")
        parsed = parsed.materialize()
        keys: list[str] = []
        hashes: list[bytes] = []
        metas: list[dict[str, Any]] = []
        line = 0
        for b in parsed.select_columns(["id", "hash", "meta", "keep"]).iter_batches(batch_size=4096,
                                                                                    batch_format="numpy"):
            for key, h, meta, ok in zip(b["id"], b["hash"], b["meta"], b["keep"], strict=True):
                line += 1
                if not ok:
                    continue
                m = json.loads(meta)
                if kind == "txt":
                    key, m = str(line), {"line": line}
                elif not key:
                    key = str(len(keys))
                keys.append(str(key))
                hashes.append(bytes(h))
                metas.append(m)
        if kind == "dir" and files:
            order = sorted(range(len(keys)), key=lambda i: keys[i])
            keys, hashes, metas = [keys[i] for i in order], [hashes[i] for i in order], [metas[i] for i in order]
        if not keys:
            raise InvalidInputError(f"{input}: no items to encode")
        if id_field is not None and len(set(keys)) != len(keys):
            seen: set[str] = set()
            for k in keys:
                if k in seen:
                    raise InvalidInputError(f"{input}: id {k!r} occurs twice in field {id_field!r}; ids must be "
                                            "unique")
                seen.add(k)

        dim = int(info["dim"])
        space_id = info["space_id"]
        store = EncodingCache(space_id, dim, Path(cache_dir) if cache_dir else None) if cache and space_id else None
        folder = shard_dir(output)
        job = {"space_id": space_id, "dim": dim, "normalize": normalize, "input": str(absolute)}
        try:
            found: dict[bytes, npt.NDArray[np.float32]] = store.get(list(dict.fromkeys(hashes))) if store else {}
            resumed = _open_shards(folder, job)
            if store is not None and resumed:
                store.put(list(resumed), np.stack(list(resumed.values())))
            found.update(resumed)
            todo = frozenset(h for h in hashes if h not in found)
            n_encoded = sum(1 for h in hashes if h not in found)
            n_truncated = 0
            if todo:
                n_actors, cpus, gpus = _actors(ray, str(options.get("device", "auto")))
                # every actor gets work even when little is left to encode (a re-run): smaller batches then
                rows = min(BATCH_SIZE, -(-n_encoded // n_actors))
                pending = parsed.map_batches(_KeepHashes(todo), batch_format="numpy") \
                    .repartition(-(-n_encoded // rows)).materialize()
                enc_opts = dict(options)
                if gpus:
                    enc_opts["device"] = "cuda"
                encoded = pending.map_batches(
                    EncoderActor, batch_size=rows, batch_format="numpy",
                    compute=ray.data.ActorPoolStrategy(size=n_actors), num_cpus=cpus, num_gpus=gpus or None,
                    fn_constructor_kwargs={"model": model, "options": enc_opts, "encoder": encoder,
                                           "normalize": normalize, "batch_size": batch_size,
                                           "threads": int(cpus)})
                n_part = 1 + max((int(f.name[5:11]) for f in folder.glob("part-*.parquet")), default=-1)
                for out in encoded.iter_batches(batch_size=None, batch_format="numpy"):
                    vecs = np.asarray(out["vector"], dtype=np.float32)
                    if vecs.ndim != 2 or vecs.shape[1] != dim:
                        raise InvalidInputError(f"the encoder gave vectors of shape {vecs.shape}, expected (n, {dim})")
                    hs = [bytes(h) for h in out["hash"]]
                    _write_shard(folder, n_part, hs, vecs)
                    n_part += 1
                    if store is not None:
                        store.put(hs, vecs)
                    found.update(zip(hs, vecs, strict=True))
                    n_truncated += int(np.sum(out["truncated"]))
        finally:
            if store is not None:
                store.close()
        vectors = np.stack([found[h] for h in hashes]).astype(np.float32, copy=False)
        prov = info["provenance"]
        report = _write(output, format, keys, vectors, metas, hashes,
                        Provenance(model=prov["model"], config=dict(prov["config"])), normalize, "text", len(keys),
                        n_encoded, n_truncated, 0, t0, info["name"])
        shutil.rmtree(folder, ignore_errors=True)
        return report
    finally:
        ctx.execution_options.preserve_order, ctx.enable_progress_bars = saved
        data_log.setLevel(saved_level)
        if started:
            ray.shutdown()


def encoder_info(encoder: BaseEncoder) -> dict[str, Any]:
    """What the Ray job needs to know of the model space, as ModelIndex stores it."""
    return {"space_id": encoder.space_id, "dim": encoder.dim, "modality": encoder.modality, "name": encoder.name,
            "provenance": {"model": encoder.provenance.model, "config": dict(encoder.provenance.config)}}

