"""``embspace finetune | train contrastive | train clip-digits | train clap-words``: parse, call the library, format."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from . import _output as out


def finetune_command(
    pairs: Annotated[Path, typer.Argument(help="Training pairs: a BEIR dataset directory (its qrels' relevant "
                                               "(query, document) pairs), or a .jsonl (anchor/positive fields) or "
                                               ".tsv (two columns) file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model directory to write.")],
    model: Annotated[str, typer.Option("--model", "-m", help="The model to start from.")] = "minilm",
    split: Annotated[str, typer.Option("--split", help="The BEIR qrels split to train on.")] = "train",
    epochs: Annotated[int, typer.Option("--epochs", help="Passes over the pairs.")] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Pairs per batch (in-batch negatives).")] = 32,
    learning_rate: Annotated[float, typer.Option("--learning-rate", help="AdamW learning rate.")] = 2e-5,
    max_length: Annotated[int, typer.Option("--max-length", help="Tokens per text.")] = 256,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    matryoshka: Annotated[str | None, typer.Option(
        "--matryoshka", metavar="DIMS", help="Also train for truncation (MatryoshkaLoss) to these sizes, descending, "
                                             "e.g. 384,256,128,64; the model records them, so "
                                             "get_encoder(model, dim=...) truncates it without a warning.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of text.")] = False,
) -> None:
    """Fine-tune a sentence encoder on (query, positive) pairs with in-batch negatives (MNRL), optionally
    for truncation too (Matryoshka)."""
    from ..data import load_pairs
    from ..errors import InvalidInputError
    from ..evaluate import load_beir
    from ..train import finetune

    dims = None
    if matryoshka is not None:
        try:
            dims = [int(d) for d in matryoshka.replace(" ", "").split(",") if d]
        except ValueError:
            raise InvalidInputError(f"--matryoshka takes sizes separated by commas (e.g. 384,256,128,64), got "
                                    f"{matryoshka!r}") from None
    if pairs.is_dir():
        pair_list = load_beir(pairs, split).pairs()
        source = f"{pairs} ({split} qrels)"
    else:
        pair_list = load_pairs(pairs)
        source = str(pairs)
    t0 = time.perf_counter()
    path = finetune(pair_list, output, model=model, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                    max_length=max_length, device=device, seed=seed, progress=not quiet and not as_json,
                    matryoshka_dims=dims)
    seconds = time.perf_counter() - t0
    summary = {"output": str(path), "base_model": model, "pairs": len(pair_list), "source": source,
               "epochs": epochs, "matryoshka_dims": dims, "seconds": round(seconds, 1)}
    if as_json:
        out.print_json(summary)
    else:
        trained = "" if dims is None else f" for truncation to {','.join(map(str, dims))} dims (Matryoshka)"
        typer.echo(f"fine-tuned {model} on {len(pair_list):,} pairs from {source}{trained} in {seconds:.0f} s -> "
                   f"{path} (load it with --model {path})")


def train_contrastive(
    space: Annotated[Path, typer.Argument(help="An embedding space (any format `embspace` reads).")],
    labels: Annotated[Path, typer.Option("--labels", help="KEY<TAB>LABEL lines: the classes that should cluster.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the learned space (own format).")],
    loss: Annotated[str, typer.Option("--loss", help="triplet or contrastive.")] = "triplet",
    mining: Annotated[str, typer.Option("--mining", help="Triplet mining: batch_hard, semi_hard or all.")]
    = "batch_hard",
    margin: Annotated[float, typer.Option("--margin", help="The loss's margin (cosine distance).")] = 0.2,
    dim: Annotated[int, typer.Option("--dim", help="Dimensions of the learned space.")] = 64,
    epochs: Annotated[int, typer.Option("--epochs", help="Passes over the labelled vectors.")] = 20,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Vectors per batch.")] = 128,
    learning_rate: Annotated[float, typer.Option("--learning-rate", help="AdamW learning rate.")] = 1e-3,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of text.")] = False,
) -> None:
    """Metric learning on an existing space: a projection (MLP) trained with labels so that vectors of one
    class gather; every vector of the space is mapped and written as a new space."""
    import numpy as np

    from ..data import load_labels
    from ..evaluate import knn_accuracy
    from ..space.embedding_space import EmbeddingSpace
    from ..train import MetricProjection

    src = EmbeddingSpace.load(space)
    found = load_labels(labels)
    keys = [k for k in found if k in src]
    held = np.random.default_rng(seed).random(len(keys)) < 0.2  # scored afterwards, never trained on
    train_labels = {k: found[k] for k, h in zip(keys, held, strict=True) if not h}
    model = MetricProjection(loss=loss, mining=mining, margin=margin, dim=dim, epochs=epochs, batch_size=batch_size,
                             learning_rate=learning_rate, device=device, seed=seed,
                             progress=not quiet and not as_json).fit(src, train_labels)
    model.space_.save(output)
    before = after = None
    if held.any() and len(train_labels) > 1:
        tr, te = [k for k in keys if k in train_labels], [k for k, h in zip(keys, held, strict=True) if h]
        y_tr, y_te = [found[k] for k in tr], [found[k] for k in te]
        before, after = (knn_accuracy(np.stack([sp[k] for k in tr]), y_tr, np.stack([sp[k] for k in te]), y_te, k=5)
                         for sp in (src, model.space_))
    summary = {"output": str(output), "vectors": len(src), "labelled": len(keys), "trained_on": len(train_labels),
               "loss": loss, "final_loss": model.trainer_.loss_history_[-1], "held_out_knn_before": before,
               "held_out_knn_after": after}
    if as_json:
        out.print_json(summary)
    else:
        check = "" if before is None else f"; 5-NN accuracy on held-out labelled vectors {before:.3f} -> {after:.3f}"
        typer.echo(f"metric learning ({loss}) on {len(keys):,} labelled of {len(src):,} vectors{check} -> {output}")


def train_clip_digits(
    mnist: Annotated[Path, typer.Argument(help="The MNIST folder (t10k-images-idx3-ubyte.gz, ...).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model directory to write.")],
    split: Annotated[str, typer.Option("--split", help="The MNIST split to use: test or train.")] = "test",
    holdout: Annotated[int, typer.Option("--holdout", help="Last N digits kept out of training, for the "
                                                             "zero-shot check.")] = 1000,
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs.")] = 3,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Image-caption pairs per batch.")] = 256,
    text_model: Annotated[str, typer.Option("--text-model", help="The frozen text encoder.")] = "minilm",
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of text.")] = False,
) -> None:
    """Train a CLIP-style digits model (image tower + frozen text tower with a projection) on MNIST digits
    paired with generated captions; report zero-shot accuracy on held-out digits with an unseen phrasing."""
    from ..data import DIGIT_WORDS, digit_captions, load_mnist
    from ..errors import InvalidInputError
    from ..train import TwoTowerClip

    images, labels = load_mnist(mnist, split)
    if not 0 <= holdout < len(images) - 10:
        raise InvalidInputError(f"--holdout must be between 0 and {len(images) - 11}, got {holdout}")
    n = len(images) - holdout
    model = TwoTowerClip(text_encoder=text_model, epochs=epochs, batch_size=batch_size, device=device, seed=seed,
                         progress=not quiet and not as_json)
    t0 = time.perf_counter()
    model.fit(images[:n], digit_captions(labels[:n], seed=seed))
    seconds = time.perf_counter() - t0
    model.save(output)
    accuracy = None
    template = "an image of a {}"  # not a training phrasing
    if holdout:
        r = model.zero_shot(images[n:], list(DIGIT_WORDS), template)
        accuracy = r.accuracy([DIGIT_WORDS[d] for d in labels[n:]])
    summary = {"output": str(output), "trained_on": n, "held_out": holdout, "seconds": round(seconds, 1),
               "zero_shot_template": template, "zero_shot_accuracy": accuracy, "logit_scale": model.logit_scale}
    if as_json:
        out.print_json(summary)
    else:
        check = "" if accuracy is None else f"; zero-shot {accuracy:.3f} on {holdout:,} held-out digits ({template!r})"
        typer.echo(f"CLIP-style digits: trained on {n:,} digits in {seconds:.0f} s{check} -> {output}")


def train_clap_words(
    output: Annotated[Path, typer.Option("--output", "-o", help="Model directory to write.")],
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Where the synthesised clips go (default: "
                                                                        "$EMBSPACE_CACHE/spoken_words).")] = None,
    accents: Annotated[str | None, typer.Option("--accents", help="espeak-ng English voices, comma-separated "
                                                                   "(default: the eight of ESPEAK_ACCENTS).")] = None,
    variants: Annotated[str | None, typer.Option("--variants", help="espeak-ng voice variants, comma-separated "
                                                                     "(default: the 36 of ESPEAK_VARIANTS).")] = None,
    held_out: Annotated[float, typer.Option("--held-out", help="Share of the voices (espeak-ng voice+variant "
                                                               "combinations) kept out of training.")] = 0.2,
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs.")] = 3,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Clip-caption pairs per batch.")] = 256,
    text_model: Annotated[str, typer.Option("--text-model", help="The frozen text encoder.")] = "minilm",
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    seed: Annotated[int, typer.Option("--seed", help="Random seed (the held-out voices, captions, weights).")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of text.")] = False,
) -> None:
    """Train a CLAP-style spoken-digits model (log-mel + small CNN audio tower, frozen text tower with a
    projection) on the words "zero".."nine" synthesised with espeak-ng in many voices; report zero-shot
    accuracy on voices never heard in training, with a caption phrasing never used in training."""
    from ..data import DIGIT_WORDS, spoken_captions, spoken_digits
    from ..data.spoken_words import ESPEAK_ACCENTS, ESPEAK_VARIANTS, HELD_OUT_SPOKEN_TEMPLATE
    from ..train import TwoTowerClap

    def names(given: str | None, default: tuple[str, ...]) -> list[str]:
        return [v.strip() for v in given.split(",") if v.strip()] if given else list(default)

    t0 = time.perf_counter()
    train, test = spoken_digits(accents=names(accents, ESPEAK_ACCENTS), variants=names(variants, ESPEAK_VARIANTS),
                                held_out=held_out, cache_dir=cache_dir, seed=seed)
    synth_seconds = time.perf_counter() - t0
    if not quiet and not as_json:
        typer.echo(f"{len(train):,} training clips ({len(set(train.voices))} voices), {len(test):,} held-out clips "
                   f"({len(set(test.voices))} voices) in {synth_seconds:.0f} s", err=True)
    model = TwoTowerClap(text_encoder=text_model, epochs=epochs, batch_size=batch_size, device=device, seed=seed,
                         progress=not quiet and not as_json)
    t1 = time.perf_counter()
    model.fit(train.audio, spoken_captions(train.words, seed=seed))
    seconds = time.perf_counter() - t1
    model.save(output)
    template = HELD_OUT_SPOKEN_TEMPLATE
    accuracy = model.zero_shot(test.audio, list(DIGIT_WORDS), template).accuracy(test.words)
    summary = {"output": str(output), "trained_on": len(train), "train_voices": len(set(train.voices)),
               "held_out": len(test), "held_out_voices": len(set(test.voices)), "seconds": round(seconds, 1),
               "zero_shot_template": template, "zero_shot_accuracy": accuracy, "logit_scale": model.logit_scale}
    if as_json:
        out.print_json(summary)
    else:
        typer.echo(f"CLAP-style spoken digits: trained on {len(train):,} clips in {seconds:.0f} s -> {output}")
        typer.echo(f"zero-shot accuracy on held-out voices: {accuracy:.3f}")


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    app.command("finetune")(finetune_command)
    train_app.command("contrastive")(train_contrastive)
    train_app.command("clip-digits")(train_clip_digits)
    train_app.command("clap-words")(train_clap_words)
