"""embspace train contrastive (metric learning on a space), train clip-digits (on a synthetic MNIST) and train
clap-words (spoken digits synthesised with espeak-ng; skipped without it)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embspace import EmbeddingSpace
from embspace.cli.app import app

pytest.importorskip("torch")
runner = CliRunner()


def test_train_contrastive_gathers_the_labelled_classes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 4, n)
    signal = np.eye(4)[y] * 2.0  # the class lives in 4 of 40 dimensions, buried under noise
    x = np.hstack([signal, rng.standard_normal((n, 36)) * 1.2]) + rng.standard_normal((n, 40)) * 0.5
    keys = [f"k{i}" for i in range(n)]
    EmbeddingSpace(keys, x.astype(np.float32)).save(tmp_path / "space")
    (tmp_path / "labels.tsv").write_text("".join(f"{k}\t{c}\n" for k, c in zip(keys, y, strict=True)))
    r = runner.invoke(app, ["train", "contrastive", str(tmp_path / "space"), "--labels", str(tmp_path / "labels.tsv"),
                            "-o", str(tmp_path / "learned"), "--dim", "16", "--epochs", "15", "--device", "cpu",
                            "--json"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    s = json.loads(r.stdout)
    assert s["held_out_knn_after"] > s["held_out_knn_before"] + 0.15
    learned = EmbeddingSpace.load(tmp_path / "learned")
    assert learned.dim == 16 and len(learned) == n and learned.provenance.model == "embspace.contrastive"


def test_train_contrastive_refuses_bad_labels(tmp_path: Path) -> None:
    EmbeddingSpace([f"k{i}" for i in range(5)], np.eye(5, dtype=np.float32)).save(tmp_path / "s")
    (tmp_path / "l.tsv").write_text("k0 no tab\n")
    r = runner.invoke(app, ["train", "contrastive", str(tmp_path / "s"), "--labels", str(tmp_path / "l.tsv"),
                            "-o", str(tmp_path / "o")])
    message = r.output + str(r.exception)
    assert r.exit_code != 0 and "key<TAB>label" in message and "line 1" in message


class DigitBag:
    VOCAB = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
             "0", "1", "2", "3", "4", "5", "6", "7", "8", "9")

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return np.array([[t.split().count(w) for w in self.VOCAB] for t in texts], np.float32)


def test_train_clip_digits_on_synthetic_digits(tmp_path: Path) -> None:
    from embspace.encoders import register_encoder

    register_encoder("digit-bag-test", lambda **_: DigitBag())  # type: ignore[arg-type, return-value]
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 10, n).astype(np.uint8)
    img = np.zeros((n, 28, 28), np.uint8)
    for i, d in enumerate(y):  # digit d: a bar in its own row band (2d+2, 2d+3), its ends jittered
        r = 2 + 2 * int(d)
        img[i, r : r + 2, 2 + rng.integers(0, 6) : 20 + rng.integers(0, 6)] = 255
    for name, arr in (("t10k-images-idx3-ubyte", img), ("t10k-labels-idx1-ubyte", y)):
        head = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
        (tmp_path / (name + ".gz")).write_bytes(gzip.compress(head + arr.tobytes()))
    r = runner.invoke(app, ["train", "clip-digits", str(tmp_path), "-o", str(tmp_path / "clip"), "--holdout", "80",
                            "--epochs", "10", "--batch-size", "32", "--text-model", "digit-bag-test", "--device", "cpu",
                            "--json"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    s = json.loads(r.stdout)
    assert s["trained_on"] == 320 and s["zero_shot_accuracy"] >= 0.8
    assert (tmp_path / "clip" / "two_tower_clip.json").is_file()


@pytest.mark.skipif(__import__("shutil").which("espeak-ng") is None,
                    reason="espeak-ng is not installed (apt-get install espeak-ng): no spoken words to train on")
def test_train_clap_words_reports_held_out_voices_last(tmp_path: Path) -> None:
    # a small run (10 voices, 1 epoch): the shape of the output; the full recipe is in BENCHMARKS.md
    r = runner.invoke(app, ["train", "clap-words", "-o", str(tmp_path / "clap"), "--cache-dir", str(tmp_path / "wav"),
                            "--accents", "en-us,en-gb-x-rp", "--variants", "m1,m3,f1,f2,croak", "--epochs", "1",
                            "--batch-size", "64", "--device", "cpu", "--quiet"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("zero-shot accuracy on held-out voices: 0.") or last.endswith("1.000"), last
    assert 0.0 <= float(last.rsplit(" ", 1)[1]) <= 1.0
    assert (tmp_path / "clap" / "two_tower_clap.json").is_file()
    r = runner.invoke(app, ["train", "clap-words", "-o", str(tmp_path / "clap2"), "--cache-dir", str(tmp_path / "wav"),
                            "--accents", "en-us", "--variants", "m1,f1,nosuch", "--device", "cpu", "--quiet"])
    assert r.exit_code != 0 and "nosuch" in str(r.exception)
