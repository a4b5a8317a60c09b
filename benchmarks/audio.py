"""Audio benchmark (issue 30): a CLAP-style spoken-digits model, zero-shot on voices never heard in training.

Data: the ten words "zero".."nine" synthesised with espeak-ng (embspace.data.spoken_digits: 8 English accents
x 36 voice variants = 288 voices, each at 2 speeds x 2 pitches), 1 s at 16 kHz. A seeded 20% of the voices
(voice+variant combinations) are held out: none of their clips is trained on.

Model: TwoTowerClap with its defaults (log-mel 40 bands / 20 ms frames, SmallConvNet width 16, SpecAugment; the
frozen all-MiniLM-L6-v2 text tower with a trained projection; symmetric InfoNCE), trained on the clips of the
training voices, each paired with a caption in one of six phrasings (embspace.data.SPOKEN_PHRASINGS), the same
recipe as `embspace train clap-words`. Zero-shot: each held-out clip goes to the digit whose caption (a template
never used in training) is nearest. The peer on the same split: a 1-nearest-neighbour vote over the standardised
log-mels of the training clips (it uses the labels; the zero-shot model never sees a label as a class).

    python benchmarks/audio.py                    # ~3-6 min on 2 cores (the first run also synthesises ~2 min)
    python benchmarks/audio.py --epochs 1         # quick check
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from _report import acceptance_table, cpu_snapshot, other_cpu, publish_section, say, set_threads, write_json

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "audio.json"
SECTION = "## Audio (issue 30)"
ZERO_SHOT_TARGET = 0.90


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--held-out", type=float, default=0.2, help="share of the voices kept out of training")
    p.add_argument("--cache-dir", type=Path, default=None, help="where the clips go (default $EMBSPACE_CACHE)")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=DEFAULT_JSON)
    p.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    p.add_argument("--no-markdown", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    set_threads(args.threads)
    import numpy as np
    import torch

    from embspace._audio import log_mel
    from embspace.data import DIGIT_WORDS, spoken_captions, spoken_digits
    from embspace.data.spoken_words import HELD_OUT_SPOKEN_TEMPLATE
    from embspace.train import TwoTowerClap

    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    train, test = spoken_digits(held_out=args.held_out, cache_dir=args.cache_dir, seed=args.seed)
    data_s = time.perf_counter() - t0
    say(f"{train!r} for training, {test!r} held out ({data_s:.0f} s)")

    snap = cpu_snapshot()
    model = TwoTowerClap(epochs=args.epochs, device="cpu", seed=args.seed, progress=False)
    model.fit(train.audio, spoken_captions(train.words, seed=args.seed))
    fit = other_cpu(snap, cpu_snapshot())
    say(f"trained in {fit['wall_s']:.0f} s ({fit['own_cpu_s']:.0f} CPU-s)")

    templates = (HELD_OUT_SPOKEN_TEMPLATE, "the sound of someone saying {}", "a clip of the number {}")
    rows = []
    for template in templates:
        r = model.zero_shot(test.audio, list(DIGIT_WORDS), template)
        rows.append({"template": template, "held_out_accuracy": r.accuracy(test.words)})
    seen = model.zero_shot(train.audio[::10], list(DIGIT_WORDS), HELD_OUT_SPOKEN_TEMPLATE).accuracy(train.words[::10])

    # the peer: 1-NN over standardised log-mels of the training clips (labels used)
    def mel(x: Any) -> Any:
        m = log_mel(x, 16000, n_mels=40, n_fft=512, hop=320).reshape(len(x), -1)
        return m - m.mean(axis=1, keepdims=True)

    ref, qry = mel(train.audio), mel(test.audio)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    qry /= np.linalg.norm(qry, axis=1, keepdims=True)
    nn = np.argmax(qry @ ref.T, axis=1)
    knn = float(np.mean([train.words[j] == w for j, w in zip(nn.tolist(), test.words, strict=True)]))

    main_acc = rows[0]["held_out_accuracy"]
    accept = [{"target": "zero-shot, ten spoken digits, held-out voices, unseen caption template",
               "required": f">= {ZERO_SHOT_TARGET:.2f}", "measured": f"{main_acc:.3f}",
               "holds": main_acc >= ZERO_SHOT_TARGET}]
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
                    "load_before": load0, "load_after": os.getloadavg()[0]},
        "data": {"train_clips": len(train), "train_voices": len(set(train.voices)), "held_out_clips": len(test),
                 "held_out_voices": len(set(test.voices)), "seconds": round(data_s, 1)},
        "settings": {"epochs": args.epochs, "seed": args.seed, "held_out": args.held_out},
        "fit": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in fit.items()},
        "zero_shot": rows, "seen_voices_accuracy": seen, "peer_1nn_logmel_accuracy": knn,
        "logit_scale": model.logit_scale, "acceptance": accept,
    }
    write_json(args.json, report)

    lines = [SECTION, "",
             f"`TwoTowerClap` (log-mel + SmallConvNet audio tower, frozen all-MiniLM-L6-v2 text tower with a trained "
             f"projection, symmetric InfoNCE) trained on {len(train):,} clips of the ten digit words in "
             f"{len(set(train.voices))} espeak-ng voices (voice+variant combinations), scored zero-shot on "
             f"{len(test):,} clips of {len(set(test.voices))} voices never heard in training, with caption "
             "templates never used in training. Training took "
             f"{fit['wall_s']:.0f} s ({fit['own_cpu_s']:.0f} CPU-seconds, {args.threads} threads, {args.epochs} "
             "epochs).", "",
             "| caption template (unseen) | zero-shot accuracy, held-out voices |", "|---|---|"]
    lines += [f"| `{r['template']}` | {r['held_out_accuracy']:.3f} |" for r in rows]
    lines += ["", f"Training voices (every 10th clip), same template: {seen:.3f}. The peer on the same split, a "
              f"1-nearest-neighbour vote over the log-mels of the training clips (it uses the labels): {knn:.3f}.", "",
              *acceptance_table(accept), "",
              f"Measured {report['date'][:10]} on {os.cpu_count()} CPU(s) (load {load0:.1f} before, shared with "
              f"other work: timings are noisy), Python {platform.python_version()}, torch {torch.__version__}. "
              "Rerun with:", "",
              "    " + shlex.join([sys.executable.rsplit("/", 1)[-1], "benchmarks/audio.py", *(argv or sys.argv[1:])]),
              "    embspace train clap-words -o clap-digits    # the same recipe; its last line is the accuracy",
              ""]
    section = "\n".join(lines)
    print(section)
    publish_section(None if args.no_markdown else args.markdown, SECTION, section)
    return report


if __name__ == "__main__":
    main()
