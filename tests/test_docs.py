"""Every code example in README.md and docs/**/*.md runs as a test.

- ```python blocks run in a fresh temporary directory.
- ```bash / ```sh / ```shell / ```console blocks run with bash (``set -euo pipefail``) in a fresh
  temporary directory that holds the small input files `_write_fixtures` makes (a corpus, a word
  space, evaluation files, documents, ratings, a BEIR-layout dataset...), with ``$EMBSPACE_DATA``
  pointing into it. In a ```console block only the ``$ `` lines run.
- A block that cannot run in a test (a long-running server, an install, data from ../shared/data,
  a model that is not installed) is marked in the page: ```bash no-test, or an HTML comment
  ``<!-- not-run: the reason -->`` on the line before the opening fence. Such blocks are counted
  (`test_every_example_runs_or_is_marked` prints the inventory) and listed with their reasons.
- A ```text (or unlabelled) block that holds ``embspace`` commands or Python code is an example
  in disguise: unless it is marked, `test_every_example_runs_or_is_marked` fails on it.

The shell examples call ``embspace`` many times; to keep that fast, ``embspace`` on their PATH is a
client of a warm server that has already imported torch and transformers and forks for each
command (tests/_cli_forkserver.py). ``EMBSPACE_DOCS_SUBPROCESS=1`` runs the real console script
instead (slower; the same results).

docs/cli.md's command reference is generated from the Typer app (``python tools/cli_reference.py``);
the tests below fail when a command or an option of the app is missing from it.
"""

from __future__ import annotations

import gzip
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

PYTHON_LANGS = {"python", "py", "python3", "pycon"}
SHELL_LANGS = {"bash", "sh", "shell", "console", "zsh", "shell-session"}
PLAIN_LANGS = {"", "text", "txt", "plain"}
SKIP_FLAGS = {"no-test", "not-run", "notest"}

FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
NOT_RUN = re.compile(r"^\s*<!--\s*not-run:\s*(?P<reason>.*?)\s*-->\s*$")
LOOKS_SHELL = re.compile(r"^\s*(\$\s+)?(embspace|python3?|pip3?|curl)(\s|$)", re.M)
LOOKS_PYTHON = re.compile(r"^\s*(>>>\s|from\s+[\w.]+\s+import\s|import\s+[\w.]+\s*$"   # imports, a session
                          r"|[A-Za-z_]\w*(\.[A-Za-z_]\w*)+\("                             # a dotted call
                          r"|[A-Za-z_]\w*\s*=\s*[A-Za-z_][\w.]*\()", re.M)                # x = f(...)

# Blocks that cannot carry a marker in their page, matched by a line of their code. Keep this short.
NOT_RUN_ELSEWHERE: dict[tuple[str, str], str] = {
    # The README's first lines are fixed (the set-up commands): no marker can go before its block.
    ("README.md", 'python3 -m pip install -c constraints.txt -e ".[dev]" && embspace demo'):
        "installs embspace, runs the demo and the whole test suite",
}


@dataclass(frozen=True)
class Block:
    doc: str            # path relative to the repository root
    line: int           # line number of the opening fence
    lang: str           # first word of the info string
    code: str
    kind: str           # "python", "shell" or "other"
    not_run: str | None  # the reason it does not run, when it is marked
    unmarked_code: bool = False  # a text block that holds code and no marker

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def _closes(line: str, fence: str) -> bool:
    """Whether ``line`` closes a block opened by ``fence`` (the same character, at least as many)."""
    return line.startswith(fence) and not line.strip(fence[0]).strip()


def _blocks(path: Path) -> Iterator[Block]:
    lines = path.read_text("utf-8").splitlines()
    rel = path.relative_to(ROOT).as_posix()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m.group("fence"), m.group("info").strip()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not _closes(lines[i], fence):
            body.append(lines[i])
            i += 1
        i += 1
        words = info.replace(",", " ").replace("{", " ").replace("}", " ").replace(".", " ").split()
        lang = words[0].lower() if words else ""
        code = "\n".join(body) + "\n"
        before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        reason = None
        if SKIP_FLAGS & {w.lower() for w in words[1:]}:
            after = next((x for x in lines[i:] if x.strip()), "")  # a comment right after explains it
            reason = c.group("reason") if (c := NOT_RUN.match(after)) and c.group("reason") else "marked no-test"
        elif (c := NOT_RUN.match(before)) is not None:
            reason = c.group("reason") or "(no reason given)"
        else:
            for (doc, needle), why in NOT_RUN_ELSEWHERE.items():
                if doc == rel and needle in code:
                    reason = why
        if lang in PYTHON_LANGS:
            kind = "python"
        elif lang in SHELL_LANGS:
            kind = "shell"
        else:
            kind = "other"
        hidden = lang in PLAIN_LANGS and bool(LOOKS_SHELL.search(code) or LOOKS_PYTHON.search(code))
        yield Block(rel, start + 1, lang, code, kind, reason, unmarked_code=hidden and reason is None)


ALL_BLOCKS = [b for doc in DOCS for b in _blocks(doc)]
PYTHON_BLOCKS = [b for b in ALL_BLOCKS if b.kind == "python" and b.not_run is None]
SHELL_BLOCKS = [b for b in ALL_BLOCKS if b.kind == "shell" and b.not_run is None]


def test_every_example_runs_or_is_marked(capsys: pytest.CaptureFixture[str]) -> None:
    """Code blocks either run (below) or say why not; the inventory is printed."""
    hidden = [b for b in ALL_BLOCKS if b.unmarked_code]
    not_run = [b for b in ALL_BLOCKS if b.not_run is not None]
    empty = [b for b in not_run if b.not_run == "(no reason given)"]
    lines = [f"docs examples: {len(PYTHON_BLOCKS)} python and {len(SHELL_BLOCKS)} shell blocks run, "
             f"{len(not_run)} marked not run:"]
    lines += [f"  {b.id} ({b.lang or 'text'}): {b.not_run}" for b in not_run]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert not hidden, (
        "code in a block that does not run; write it as ```bash or ```python so that it runs, or put "
        "<!-- not-run: REASON --> on the line before it:\n"
        + "\n".join(f"  {b.id} ```{b.lang}: {b.code.splitlines()[0]}" for b in hidden))
    assert not empty, "give a reason: <!-- not-run: REASON -->: " + ", ".join(b.id for b in empty)
    assert PYTHON_BLOCKS and SHELL_BLOCKS


def test_markers_sit_at_code_blocks() -> None:
    """A not-run comment far from any code block is a mistake (it was meant for something).

    The comment on the line before a block marks it; one right after a block (which ```lang no-test
    marks) only explains it.
    """
    stray = []
    for doc in DOCS:
        lines = doc.read_text("utf-8").splitlines()
        for n, line in enumerate(lines):
            if NOT_RUN.match(line):
                nxt = next((x for x in lines[n + 1:] if x.strip()), "")
                prev = next((x for x in lines[n - 1::-1] if x.strip()), "") if n else ""
                if not FENCE.match(nxt) and not re.fullmatch(r"`{3,}|~{3,}", prev.strip()):
                    stray.append(f"{doc.relative_to(ROOT)}:{n + 1}")
    assert not stray, f"<!-- not-run: ... --> must sit just before a code block: {stray}"


# --------------------------------------------------------------------------- python


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda b: b.id)
def test_python_example(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMBSPACE_DATA", str(tmp_path / ".embspace-data"))
    code = block.code
    if block.lang == "pycon":
        code = "\n".join(line[4:] for line in code.splitlines() if line.startswith((">>> ", "... ")))
    exec(compile(code, block.id, "exec"), {"__name__": f"doc_{block.line}"})


# --------------------------------------------------------------------------- shell


def _write_fixtures(root: Path) -> None:
    """The small inputs the shell examples use, made from scratch (never from ../shared/data)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import embspace
    from embspace.data import demo_words, python_help_sentences

    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)

    # Text to learn word vectors from: English prose from Python's own help (6,000 words).
    sentences = python_help_sentences(400)
    text = "\n".join(sentences) + "\n"
    (root / "corpus.txt").write_text(text)
    with lzma.open(root / "corpus.txt.xz", "wt") as f:
        f.write(text)
    (root / "corpus").mkdir()
    half = len(sentences) // 2
    (root / "corpus" / "part1.txt").write_text("\n".join(sentences[:half]) + "\n")
    with gzip.open(root / "corpus" / "part2.txt.gz", "wt") as f:
        f.write("\n".join(sentences[half:]) + "\n")

    # A word space (the 2,000 most frequent of the shipped Wikipedia vectors), in two formats.
    words = demo_words().top(2000)
    words.save(root / "words")
    words.save(root / "vectors.bin")
    words.subset(list(words.keys[:1600])).save(root / "run1.bin")
    run2 = embspace.EmbeddingSpace(words.keys, words.vectors + rng.normal(0, 0.05, words.vectors.shape))
    run2.save(root / "run2.bin")

    # Word analogy and similarity files in the usual formats (a few questions and pairs).
    (root / "questions-words.txt").write_text(
        ": capital-common-countries\n"
        "berlin germany paris france\nparis france rome italy\nrome italy london england\n"
        "london england moscow russia\nmoscow russia berlin germany\n"
        ": family\n"
        "boy girl brother sister\nbrother sister father mother\nfather mother son daughter\n"
        "son daughter king queen\nking queen man woman\nman woman husband wife\n")
    (root / "wordsim353.tsv").write_text(
        "Word 1\tWord 2\tHuman (mean)\n"
        "king\tqueen\t8.58\nfather\tmother\t7.9\nbrother\tsister\t8.1\nman\twoman\t8.3\n"
        "paris\tfrance\t7.5\nmoney\tbank\t8.5\nking\tcabbage\t0.23\nriver\tmoney\t1.1\n"
        "january\tfebruary\t7.2\nred\tgreen\t6.0\ncar\tfood\t0.8\ncity\tvillage\t6.9\n")
    labels = {"number": "one two three four five six seven eight nine ten eleven twelve twenty",
              "month": "january february march april june july august september october november december",
              "country": "germany france italy england russia spain china japan india canada australia poland "
                         "sweden ireland scotland mexico brazil egypt",
              "family": "father mother son daughter brother sister husband wife uncle boy girl man woman"}
    with open(root / "labels.tsv", "w") as f:
        for label, ws in labels.items():
            for w in ws.split():
                if w in words:
                    f.write(f"{w}\t{label}\n")

    # Short texts and documents for the encoders, collections and RAG.
    (root / "notes.txt").write_text("reset your password from the login page\nthe cafeteria opens at 8\n"
                                    "expense reports are due on the first monday of the month\n"
                                    "the wifi password is on the fridge\n")
    docs = [
        ("d1", "Passwords", "To reset your password, open the login page and choose 'forgot password'.", "en", 2021),
        ("d2", "Mot de passe", "Pour changer votre mot de passe, ouvrez la page de connexion.", "fr", 2021),
        ("d3", "Expenses", "Expense reports are due on the first Monday of each month.", "en", 2019),
        ("d4", "Cafeteria", "The cafeteria opens at eight and serves lunch until two.", "en", 2023),
        ("d5", "Wifi", "The guest wifi network is called visitors; its password changes weekly.", "en", 2022),
        ("d6", "Parking", "Staff park in the north garage; visitors use the south lot.", "en", 1998),
        ("d7", "Holidays", "Holiday requests go to your manager two weeks ahead.", "en", 2020),
        ("d8", "Laptops", "A broken laptop is swapped at the IT desk on the second floor.", "en", 2024),
        ("d9", "Vacances", "Les demandes de congés vont à votre responsable deux semaines avant.", "fr", 2020),
        ("d10", "Security", "Never share your password; IT will never ask for it.", "en", 2018),
        ("d11", "Printing", "Printers on every floor; scan to email from the touch screen.", "en", 2022),
        ("d12", "Badges", "A lost badge is replaced at reception the same day.", "en", 2021),
    ]
    with open(root / "docs.jsonl", "w") as f:
        for i, title, body, lang, year in docs:
            f.write(json.dumps({"_id": i, "title": title, "text": body, "lang": lang, "year": year}) + "\n")
    pq.write_table(pa.table({"id": [d[0] for d in docs], "body": [d[2] for d in docs],
                             "lang": [d[3] for d in docs]}), root / "table.parquet")
    (root / "pairs.jsonl").write_text("".join(
        json.dumps({"anchor": f"how do I {q}?", "positive": body}) + "\n"
        for q, body in [("reset my password", docs[0][2]), ("claim expenses", docs[2][2]),
                        ("get a new badge", docs[11][2]), ("fix my laptop", docs[7][2])]))
    hb = root / "handbook"
    hb.mkdir()
    (hb / "tea.md").write_text("# Green tea\n\nBrew green tea with water at 80 degrees for two minutes; "
                               "boiling water makes it bitter.\n")
    (hb / "espresso.md").write_text("# Espresso\n\nAn espresso is 18 grams of finely ground coffee pressed at "
                                    "9 bar for 25 seconds.\n")
    (hb / "returns.html").write_text("<html><head><title>Returns</title></head><body><p>Return an order within "
                                     "30 days, quoting its number (like RX-4471).</p></body></html>")

    # A test collection in BEIR's layout (a miniature SciFact: claims and abstracts).
    beir = root / "scifact"
    (beir / "qrels").mkdir(parents=True)
    corpus = {"4983": ("Microstructural development of human newborn cerebral white matter",
                       "Diffusion tensor imaging measured water diffusion in the white matter of preterm infants."),
              "5836": ("Induction of myelodysplasia by myeloid-derived suppressor cells",
                       "Myelodysplastic syndromes are age-dependent stem cell malignancies."),
              "7912": ("Vitamin D and fractures", "Vitamin D supplements did not reduce hip fractures in the elderly."),
              "8801": ("Aspirin and bleeding", "Daily low-dose aspirin raised the risk of major bleeding."),
              "9902": ("Coffee and sleep", "Caffeine taken six hours before bed shortened total sleep time.")}
    with open(beir / "corpus.jsonl", "w") as f:
        for i, (title, body) in corpus.items():
            f.write(json.dumps({"_id": i, "title": title, "text": body}) + "\n")
    queries = {"1": "Preterm infants show altered white matter diffusion.",
               "2": "Vitamin D prevents hip fractures in old people.",
               "3": "Aspirin increases bleeding risk.", "4": "Caffeine late in the day reduces sleep.",
               "5": "Suppressor cells induce myelodysplasia."}
    with open(beir / "queries.jsonl", "w") as f:
        for i, q in queries.items():
            f.write(json.dumps({"_id": i, "text": q}) + "\n")
    qrels = [("1", "4983"), ("2", "7912"), ("3", "8801"), ("4", "9902"), ("5", "5836")]
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n"
                                             + "".join(f"{q}\t{d}\t1\n" for q, d in qrels[:3]))
    (beir / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n"
                                              + "".join(f"{q}\t{d}\t1\n" for q, d in qrels[3:]))

    # Ratings in MovieLens' ratings.csv layout: two tastes of users, two kinds of movies.
    users = np.repeat(np.arange(1, 61), 15)
    movies = (users % 2) * 20 + rng.integers(1, 21, len(users))
    ratings = np.clip(np.round(3.5 + rng.normal(0, 0.8, len(users)) + 0.5 * ((movies > 20) == (users % 2 == 1))), 1, 5)
    stamps = 964_982_703 + np.arange(len(users)) * 60
    rows = ["userId,movieId,rating,timestamp"] + [f"{u},{m},{r:.1f},{t}" for u, m, r, t in
                                                  zip(users, movies, ratings, stamps, strict=True)]
    test_rows = np.arange(len(users)) % 15 == 14  # each user's last rating is held out
    (root / "ratings.csv").write_text("\n".join([rows[0]] + [r for r, t in zip(rows[1:], test_rows, strict=True)
                                                              if not t]) + "\n")
    (root / "test.csv").write_text("\n".join([rows[0]] + [r for r, t in zip(rows[1:], test_rows, strict=True)
                                                           if t]) + "\n")


@pytest.fixture(scope="session")
def shell_fixtures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("doc-fixtures") / "files"
    _write_fixtures(root)
    return root


@pytest.fixture(scope="session")
def embspace_bin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A folder with the ``embspace`` the shell examples call, and the environment it needs."""
    bin_dir = tmp_path_factory.mktemp("doc-bin")
    shim = bin_dir / "embspace"
    if os.environ.get("EMBSPACE_DOCS_SUBPROCESS") == "1":
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "import sys; from embspace.cli.app import main; '
                        f'sys.argv[0] = \'embspace\'; main()" "$@"\n')
        shim.chmod(0o755)
        yield bin_dir, {}
        return
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import _cli_forkserver
    finally:
        sys.path.pop(0)
    sock = bin_dir / "s"
    server = subprocess.Popen([sys.executable, str(Path(__file__).parent / "_cli_forkserver.py"), str(sock)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        ready = server.stdout.readline().strip()
        assert ready == "ready", f"the embspace fork server did not start ({ready!r})"
        client = bin_dir / "client.py"
        client.write_text(_cli_forkserver.CLIENT)
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "{client}" "$@"\n')
        shim.chmod(0o755)
        yield bin_dir, {"EMBSPACE_DOCS_SOCKET": str(sock)}
    finally:
        server.terminate()
        server.wait(timeout=30)


def _console_commands(code: str) -> str:
    """The ``$ `` lines of a console transcript (with their ``\\`` continuations)."""
    out: list[str] = []
    cont = False
    for line in code.splitlines():
        if line.startswith("$ ") or cont:
            out.append(line[2:] if line.startswith("$ ") and not cont else line)
            cont = line.rstrip().endswith("\\")
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=lambda b: b.id)
def test_shell_example(block: Block, tmp_path: Path, shell_fixtures: Path,
                       embspace_bin: tuple[Path, dict[str, str]]) -> None:
    work = tmp_path / "work"
    shutil.copytree(shell_fixtures, work)
    bin_dir, extra = embspace_bin
    env = {**os.environ, **extra, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "EMBSPACE_DATA": str(tmp_path / "embspace-data"), "HF_HUB_OFFLINE": "1", "COLUMNS": "100",
           "NO_COLOR": "1", "TOKENIZERS_PARALLELISM": "false"}
    script = _console_commands(block.code) if block.lang == "console" else block.code
    t0 = time.perf_counter()
    proc = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=work, env=env, capture_output=True,
                          text=True, timeout=600)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, (
        f"{block.id} failed (exit {proc.returncode}, {seconds:.1f} s):\n{script}\n"
        f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}")


# --------------------------------------------------------------------------- the CLI reference

CLI_PAGE = ROOT / "docs" / "cli.md"
REF_HEADING = re.compile(r"^### `(embspace(?: [a-z0-9-]+)*)`", re.M)


def _reference_sections() -> dict[str, str]:
    text = CLI_PAGE.read_text("utf-8")
    marks = list(REF_HEADING.finditer(text))
    return {m.group(1): text[m.end(): marks[i + 1].start() if i + 1 < len(marks) else len(text)]
            for i, m in enumerate(marks)}


def _app_commands() -> dict[str, list[str]]:
    """``{"embspace train word2vec": [its options and arguments]}`` for every command and group, as
    tools/cli_reference.py (which writes the page) walks the app."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import cli_reference
    finally:
        sys.path.pop(0)
    return {path: cli_reference.param_names(cmd) for path, cmd in cli_reference.walk(cli_reference.root_command())}


def test_cli_reference_lists_every_command() -> None:
    documented = set(_reference_sections())
    commands = set(_app_commands())
    missing, stale = sorted(commands - documented), sorted(documented - commands)
    assert not missing and not stale, (
        f"docs/cli.md is out of date: missing {missing}, no such command {stale}; "
        "regenerate it with: python tools/cli_reference.py")


def test_cli_reference_lists_every_option() -> None:
    sections = _reference_sections()
    gaps = [f"{cmd} {name}" for cmd, names in _app_commands().items() for name in names
            if cmd in sections and f"`{name}" not in sections[cmd]]
    assert not gaps, f"docs/cli.md lacks {gaps}; regenerate it with: python tools/cli_reference.py"
