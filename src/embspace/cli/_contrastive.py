"""``embspace finetune``: parse, call embspace.encoders.finetune, format."""

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
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of text.")] = False,
) -> None:
    """Fine-tune a sentence encoder on (query, positive) pairs with in-batch negatives (MNRL)."""
    from ..data import load_pairs
    from ..encoders import finetune
    from ..evaluate import load_beir

    if pairs.is_dir():
        pair_list = load_beir(pairs, split).pairs()
        source = f"{pairs} ({split} qrels)"
    else:
        pair_list = load_pairs(pairs)
        source = str(pairs)
    t0 = time.perf_counter()
    path = finetune(pair_list, output, model=model, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                    max_length=max_length, device=device, seed=seed, progress=not quiet and not as_json)
    seconds = time.perf_counter() - t0
    summary = {"output": str(path), "base_model": model, "pairs": len(pair_list), "source": source,
               "epochs": epochs, "seconds": round(seconds, 1)}
    if as_json:
        out.print_json(summary)
    else:
        typer.echo(f"fine-tuned {model} on {len(pair_list):,} pairs from {source} in {seconds:.0f} s -> {path} "
                   f"(load it with --model {path})")


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    app.command("finetune")(finetune_command)
