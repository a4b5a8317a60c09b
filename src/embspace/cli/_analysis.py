"""``embspace analyze | fix | cluster | project | compare | dedup``: parse, call embspace.analysis, format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from . import _output as out
from ._space_options import EncodingOpt, LimitOpt, UnicodeErrorsOpt, load_space

SpaceArg = Annotated[Path, typer.Argument(help="A space (any format embspace reads).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of text.")]
SampleOpt = Annotated[int | None, typer.Option("--sample", help="Measure on this many random rows (big spaces).")]


def _load(path: Path, encoding: str = "utf-8", unicode_errors: str = "strict", limit: int | None = None) -> Any:
    return load_space(path, encoding=encoding, unicode_errors=unicode_errors, limit=limit)


def _plain(result: Any) -> dict[str, Any]:
    from dataclasses import asdict

    import numpy as np

    return {k: v for k, v in asdict(result).items() if not isinstance(v, np.ndarray)}


def analyze(space_path: SpaceArg,
            sample: Annotated[int | None, typer.Option(
                "--sample", help="Measure on this many random rows (default: 10,000; 100,000 with --report).")] = None,
            k: Annotated[int, typer.Option("--k", help="Neighbours for hubness.")] = 10,
            report: Annotated[Path | None, typer.Option(
                "--report", help="Write the full HTML report here (figures also as PNG files beside it).")] = None,
            map_method: Annotated[str, typer.Option("--map", help="Map of the report: umap, tsne, pca or none.")]
            = "umap",
            clusters: Annotated[int | None, typer.Option("--clusters", help="k of the report's k-means.")] = None,
            labels: Annotated[Path | None, typer.Option(
                "--labels", help="key<TAB>label lines: the report's clusters are scored against them (NMI, ARI).")]
            = None,
            encoding: EncodingOpt = "utf-8", unicode_errors: UnicodeErrorsOpt = "strict", limit: LimitOpt = None,
            as_json: JsonOpt = False) -> None:
    """Diagnose the shape of a space: norms, anisotropy, intrinsic dimension, hubness (--report: everything,
    with the fixes tried, clusters and a map, as one HTML page). Both say which vectors they measured (norms:
    raw; anisotropy: unit; intrinsic dimension and hubness: what the metric compares, unit vectors for
    cosine, raw for l2 and dot) and give the same figures for the same --sample and --k."""
    from .. import analysis

    space = _load(space_path, encoding, unicode_errors, limit)
    if report is not None:
        if map_method not in ("umap", "tsne", "pca", "none"):
            out.error(f"--map must be umap, tsne, pca or none, got {map_method!r}")
            raise typer.Exit(2)
        r = analysis.report(space, sample=sample or 100_000, k=k, clusters=clusters,
                            labels=_read_labels(labels, space) if labels is not None else None,
                            map_method=None if map_method == "none" else map_method,
                            title=f"{space_path.name}: {len(space):,} x {space.dim}", progress=not as_json)
        r.save(report)
        if as_json:
            out.print_json({**r.to_dict(), "report": str(report)})
            return
        typer.echo(f"{space_path}: {len(space):,} keys x {space.dim} ({space.metric}), report in {r.seconds:.0f} s")
        typer.echo(_measured_line(space.metric, r.sample))
        for line in r.recommendations:
            typer.echo(f"  - {line}")
        typer.echo(f"wrote {report} (figures in {report.with_name(report.stem + '_figures')})")
        return
    results = analysis.summary(space, sample=sample or 10_000, k=k)
    if as_json:
        out.print_json(results)
        return
    typer.echo(f"{space_path}: {len(space):,} keys x {space.dim} ({space.metric})")
    typer.echo(_measured_line(space.metric, min(len(space), sample or 10_000)))
    for name, res in results.items():
        typer.echo(f"\n{name.replace('_', ' ')} ({res['vectors']} vectors): {res['explanation']}")


def _measured_line(metric: str, rows: int) -> str:
    """One line saying what the diagnostics measured (the same for `analyze` and `analyze --report`)."""
    from ..analysis import measured_vectors

    return (f"measured on {rows:,} rows: norms on the raw vectors, anisotropy on the unit vectors, intrinsic "
            f"dimension and hubness on the {measured_vectors(metric)} vectors ({metric} compares those)")


def _read_labels(path: Path, space: Any) -> list[str]:
    """Labels aligned with the space's keys from key<TAB>label lines (every key needs one)."""
    from ..data import load_labels

    found = load_labels(path)
    missing = [key for key in space.keys if key not in found]
    if missing:
        out.error(f"{path}: no label for {len(missing):,} keys, e.g. {missing[0]!r}")
        raise typer.Exit(2)
    return [found[key] for key in space.keys]


def fix(space_path: SpaceArg,
        output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the fixed space.")],
        center: Annotated[bool, typer.Option("--center", help="Subtract the mean vector.")] = False,
        abtt: Annotated[int | None, typer.Option("--all-but-the-top", help="Centre and remove the top D "
                                                                             "principal components.")] = None,
        whiten: Annotated[bool, typer.Option("--whiten", help="PCA-whiten (see --dim, --zca).")] = False,
        zca: Annotated[bool, typer.Option("--zca", help="ZCA instead of PCA whitening.")] = False,
        dim: Annotated[int | None, typer.Option("--dim", help="Keep this many dimensions (PCA whitening).")] = None,
        standardize: Annotated[bool, typer.Option("--standardize", help="Z-score every coordinate.")] = False,
        hard_debias: Annotated[bool, typer.Option(
            "--hard-debias", help="Hard debiasing (Bolukbasi et al. 2016): neutralise and equalise with the "
                                  "definitional --pairs.")] = False,
        subspace: Annotated[int, typer.Option(
            "--subspace", min=1, help="Dimensions of the bias subspace for --hard-debias (the top principal "
                                      "components of the pairs; 1 is the paper's).")] = 1,
        inlp: Annotated[int | None, typer.Option(
            "--inlp", min=1, help="INLP (Ravfogel et al. 2020) with N iterations, on the --inlp-words keys most "
                                  "aligned with each side of the --pairs direction.")] = None,
        pairs: Annotated[Path | None, typer.Option(
            "--pairs", help="JSON list of definitional pairs [[\"she\", \"he\"], ...] for --hard-debias and "
                            "--inlp [default: the ten gender pairs of Bolukbasi et al.].")] = None,
        inlp_words: Annotated[int, typer.Option(
            "--inlp-words", min=2, help="Keys per side for --inlp (among the 20,000 first keys).")] = 1000,
        bias_test: Annotated[str | None, typer.Option(
            "--bias-test", help="Measure this WEAT test (see 'embspace bias --list') before and after the fix.")]
        = None,
        lists: Annotated[Path | None, typer.Option(
            "--lists", help="Word lists of --bias-test (JSON/YAML) [default: WEAT's, from wefe].")] = None,
        similarity: Annotated[Path | None, typer.Option(
            "--similarity", help="A word-similarity file (e.g. WordSim-353): its Spearman before and after.")]
        = None,
        encoding: EncodingOpt = "utf-8", unicode_errors: UnicodeErrorsOpt = "strict", limit: LimitOpt = None,
        as_json: JsonOpt = False) -> None:
    """Apply one fix and save the fixed space and its transform (inside a directory, else OUTPUT.transform.npz);
    --bias-test and --similarity measure a WEAT effect size and a word-similarity score before and after."""
    from .. import analysis
    from .._artifact import artifact_kind
    from ..analysis.fixes import TRANSFORM_FILE

    chosen = [name for name, on in (("center", center), ("all-but-the-top", abtt is not None),
                                    ("whiten", whiten), ("standardize", standardize), ("hard-debias", hard_debias),
                                    ("inlp", inlp is not None)) if on]
    if len(chosen) != 1:
        out.error("choose exactly one fix: --center, --all-but-the-top D, --whiten, --standardize, --hard-debias "
                  "or --inlp N")
        raise typer.Exit(2)
    space = _load(space_path, encoding, unicode_errors, limit)
    measures = _measures(bias_test, lists, similarity)
    if center:
        fixed = analysis.center(space, **measures)
    elif abtt is not None:
        fixed = analysis.all_but_the_top(space, abtt, **measures)
    elif whiten:
        fixed = analysis.whiten(space, dim, kind="zca" if zca else "pca", **measures)
    elif standardize:
        fixed = analysis.standardize(space, **measures)
    else:
        definitional = _read_pairs(pairs) if pairs is not None else analysis.GENDER_PAIRS
        if hard_debias:
            fixed = analysis.hard_debias(space, definitional, k=subspace, **measures)
        else:
            axis = analysis.direction(space, [a for a, _ in definitional], [b for _, b in definitional],
                                      method="pca")
            first, second = axis.extremes(space, inlp_words, among=20_000)
            fixed = analysis.inlp(space, first, second, iterations=inlp or 1, **measures)
    fixed.save(output)
    if artifact_kind(output) == "fixed-space":  # a directory: the transform is saved inside it
        tpath = Path(output) / TRANSFORM_FILE
    else:  # a file format keeps the vectors only: the transform goes beside it
        tpath = fixed.transform.save(Path(str(output).rstrip("/") + ".transform.npz"))
    if as_json:
        out.print_json({**_plain(fixed.report), "output": str(output), "transform": str(tpath)})
    else:
        typer.echo(fixed.report.explanation)
        typer.echo(f"wrote {output} and {tpath}")


def cluster(space_path: SpaceArg,
            k: Annotated[int | None, typer.Option("--k", help="k-means with k clusters (default: HDBSCAN).")] = None,
            min_cluster_size: Annotated[int, typer.Option("--min-cluster-size", help="HDBSCAN.")] = 10,
            output: Annotated[Path | None, typer.Option("--output", "-o", help="Write key<TAB>cluster lines.")] = None,
            encoding: EncodingOpt = "utf-8", unicode_errors: UnicodeErrorsOpt = "strict", limit: LimitOpt = None,
            as_json: JsonOpt = False) -> None:
    """Cluster a space (k-means with --k, else HDBSCAN) and describe the clusters."""
    from .. import analysis

    space = _load(space_path, encoding, unicode_errors, limit)
    c = analysis.kmeans(space, k) if k else analysis.hdbscan(space, min_cluster_size=min_cluster_size)
    if output is not None:
        output.write_text("".join(f"{key}\t{int(lab)}\n" for key, lab in zip(space.keys, c.labels, strict=True)),
                          encoding="utf-8")
    if as_json:
        out.print_json(_plain(c))
        return
    typer.echo(c.explanation)
    for i, members in enumerate(c.descriptions[:50]):
        typer.echo(f"  {i:>3} ({c.sizes[i]:,}): {', '.join(members)}")


def project(space_path: SpaceArg,
            output: Annotated[Path | None, typer.Option("--output", "-o", help="Map directory to write (default: "
                                                        "SPACE/maps/default, the map the projector shows).")] = None,
            method: Annotated[str, typer.Option("--method", help="umap, tsne or pca.")] = "umap",
            dims: Annotated[int, typer.Option("--dims", help="2 or 3.")] = 2,
            sample: SampleOpt = None,
            labels: Annotated[Path | None, typer.Option("--labels", help="A TSV of key<TAB>label: adds the map "
                                                        "fields 'label' and 'knn_error' (the share of each point's "
                                                        "10 nearest neighbours with another label).")] = None,
            encoding: EncodingOpt = "utf-8", unicode_errors: UnicodeErrorsOpt = "strict",
            limit: LimitOpt = None) -> None:
    """Make a 2-D/3-D map of a space (new points can be placed on it later; `embspace serve` shows it)."""
    from .. import analysis
    from ..analysis.maps import map_path

    if output is None:
        if not space_path.is_dir():
            out.error(f"{space_path} is not a space directory: give the map directory with --output")
            raise typer.Exit(2)
        output = map_path(space_path, "default")
    space = _load(space_path, encoding, unicode_errors, limit)
    m = analysis.project(space, method, dims, sample=sample)
    if labels is not None:
        from ..evaluate import knn_label_errors

        mapped = space if len(m.keys) == len(space) else space.subset(m.keys)
        values = _read_labels(labels, mapped)
        m.add_field("label", values)
        m.add_field("knn_error", knn_label_errors(mapped, values, k=10))
    m.save(output)
    extra = " (fields: label, knn_error)" if labels else ""
    typer.echo(f"{method} map of {len(m.keys):,} points -> {output}{extra}")


def compare(a_path: Annotated[Path, typer.Argument(help="The first space.")],
            b_path: Annotated[Path, typer.Argument(help="The second space.")],
            k: Annotated[int, typer.Option("--k", help="Neighbours compared per key.")] = 10,
            top: Annotated[int, typer.Option("--top", help="Compare over this many shared keys (most frequent "
                                                          "first).")] = 5_000,
            as_json: JsonOpt = False) -> None:
    """Compare two spaces over their shared keys: Procrustes, CKA, neighbour overlap, drift."""
    from .. import analysis

    c = analysis.compare_spaces(_load(a_path), _load(b_path), k=k, top=top)
    if as_json:
        out.print_json(_plain(c))
        return
    typer.echo(c.explanation)


def dedup(space_path: SpaceArg,
          threshold: Annotated[float, typer.Option("--threshold", "-t", help="Cosine similarity.")] = 0.95,
          encoding: EncodingOpt = "utf-8", unicode_errors: UnicodeErrorsOpt = "strict", limit: LimitOpt = None,
          as_json: JsonOpt = False) -> None:
    """Groups of near-duplicate keys (cosine similarity at or above the threshold)."""
    from .. import analysis

    groups = analysis.find_duplicates(_load(space_path, encoding, unicode_errors, limit), threshold)
    if as_json:
        typer.echo(json.dumps(groups, ensure_ascii=False))
        return
    typer.echo(f"{len(groups):,} groups of near-duplicates (cosine >= {threshold})")
    for g in groups[:100]:
        typer.echo("  " + ", ".join(g))


def _measures(bias_test: str | None, lists: Path | None, similarity: Path | None) -> dict[str, Any]:
    """The ``bias`` and ``evaluate`` callables of a fix, from --bias-test/--lists and --similarity."""
    measures: dict[str, Any] = {}
    if bias_test is not None:
        from ..evaluate import load_weat_lists, weat_test

        named = load_weat_lists(lists)
        measures["bias"] = lambda s: weat_test(s, bias_test, lists=named, permutations=1).effect_size
    if similarity is not None:
        from ..evaluate import word_similarity

        measures["evaluate"] = lambda s: word_similarity(s, similarity).spearman
    return measures


def _read_pairs(path: Path) -> list[tuple[str, str]]:
    try:
        body = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as e:
        out.error(f"cannot read the pairs {path}: {e}")
        raise typer.Exit(2) from None
    if not isinstance(body, list) or not all(isinstance(p, list) and len(p) == 2 for p in body):
        out.error(f"{path}: expected a JSON list of pairs of words, e.g. [[\"she\", \"he\"], [\"her\", \"his\"]]")
        raise typer.Exit(2)
    return [(str(a), str(b)) for a, b in body]


def register(app: typer.Typer) -> None:
    for fn in (analyze, fix, cluster, project, compare, dedup):
        app.command(fn.__name__)(fn)
