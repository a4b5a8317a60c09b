"""Documents for RAG: the text of plain-text, Markdown, HTML and PDF files, read from a directory.

:func:`find_documents` lists the files of a directory that can be read (sorted by their path
relative to it, so ingestion is deterministic) and says why each other entry is left out;
:func:`read_document` extracts one file's text and title. Nothing outside the directory is read:
symbolic links to files outside it, and linked directories, are not followed.

What "the text" of a document is — passages' offsets index into it:

- ``.txt``, ``.text``: the file decoded as UTF-8 (or UTF-16 with a byte-order mark), line ends
  normalised to ``\\n``; title: the first non-empty line when it is a ``# `` heading, else the file name
  without its suffix;
- ``.md``, ``.markdown``: the same text, markup kept; title: the ``title:`` of a YAML front matter, else
  the first ``# `` heading outside code fences, else the file name;
- ``.html``, ``.htm``: the visible text (no ``script``, ``style``, ``noscript``, ``template``, ``svg``),
  entities decoded, blocks on their own lines; title: ``<title>``, else the first ``<h1>``, else the
  file name;
- ``.pdf``: the text pypdf extracts, page after page (a blank line between pages; ``pages`` gives each
  page's first character); title: the PDF's metadata title, else the file name. A PDF without
  extractable text (a scan) is skipped.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import logging
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from ..errors import CorruptDataError, InvalidInputError, MissingDependencyError, UnknownFormatError

KINDS: dict[str, str] = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
                         ".html": "html", ".htm": "html", ".pdf": "pdf"}
#: Files larger than this are skipped (a document this size is almost surely not prose).
MAX_BYTES = 64 * 2**20

__all__ = ["KINDS", "MAX_BYTES", "Document", "find_documents", "read_document", "read_documents"]


@dataclass(frozen=True)
class Document:
    """One document's extracted text and what a citation needs.

    Attributes
    ----------
    source
        The file's path relative to the ingested directory, with ``/`` separators.
    title
        The document's title (see the module notes); never empty.
    text
        The extracted text; a passage is ``text[start:end]``.
    kind
        ``"text"``, ``"markdown"``, ``"html"`` or ``"pdf"``.
    pages
        For a PDF, the offset in ``text`` where each page starts (page 1 first); empty otherwise.
    """

    source: str
    title: str
    text: str
    kind: str
    pages: tuple[int, ...] = ()

    def page_of(self, offset: int) -> int | None:
        """The 1-based page holding character ``offset`` (None for documents without pages)."""
        if not self.pages:
            return None
        import bisect

        return max(1, bisect.bisect_right(self.pages, offset))


# ------------------------------------------------------------------------------------------ finding files
def find_documents(root: str | Path, *, exclude: str | Path | None = None
                   ) -> tuple[list[tuple[str, Path]], list[str]]:
    """The readable documents under ``root`` and the entries left out.

    ``exclude`` names a directory not to read (the collection being written, when it lies inside
    ``root``).

    Returns
    -------
    documents
        ``(source, path)`` pairs sorted by ``source`` (the path relative to ``root``, ``/``-separated);
        ``path`` is the file to read (for a symbolic link: its target, inside ``root``).
    skipped
        ``"source: reason"`` for every entry not listed: hidden files and directories, unknown suffixes,
        links leading outside ``root`` (or to directories, which are not followed), symbolic link loops
        and broken links, special files, files over :data:`MAX_BYTES`, and names that are not valid
        UTF-8 (shown with ``\\xNN`` escapes). None of these stops the listing.
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise InvalidInputError(f"{base} is not a directory; give the directory of documents to ingest")
    real_root = base.resolve()
    skip_dir = Path(exclude).expanduser().resolve() if exclude is not None else None
    found: list[tuple[str, Path]] = []
    skipped: list[str] = []
    for dirpath, dirnames, filenames in os.walk(real_root, followlinks=False):
        here = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            rel = _printable((here / name).relative_to(real_root).as_posix())
            if not _utf8(name):
                skipped.append(f"{rel}/: {_NOT_UTF8}")
            elif name.startswith("."):
                skipped.append(f"{rel}/: hidden directory, not read")
            elif (here / name).is_symlink():
                skipped.append(f"{rel}/: symbolic link to a directory, not followed")
            elif skip_dir is not None and here / name == skip_dir:
                skipped.append(f"{rel}/: the collection being written, not read")
            else:
                keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            full = here / name
            rel = _printable(full.relative_to(real_root).as_posix())
            if not _utf8(rel):  # a directory above it is named in bytes that are not UTF-8
                skipped.append(f"{rel}: {_NOT_UTF8}")
                continue
            reason, target = _check_file(full, name, real_root)
            if target is None:
                skipped.append(f"{rel}: {reason}")
            else:
                found.append((rel, target))
    found.sort(key=lambda item: item[0])
    return found, sorted(skipped)


_NOT_UTF8 = "the name is not valid UTF-8 (shown with \\x escapes), not read; rename it"


def _utf8(name: str) -> bool:
    """Whether a name from the file system is valid UTF-8 (Python decodes other bytes to lone surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(name: str) -> str:
    """``name`` with the bytes that are not UTF-8 shown as ``\\xNN`` (printable and storable)."""
    return name if _utf8(name) else os.fsencode(name).decode("utf-8", "backslashreplace")


def _check_file(full: Path, name: str, real_root: Path) -> tuple[str | None, Path | None]:
    """(why the file is left out, or None; the path to read)."""
    if not _utf8(name):
        return _NOT_UTF8, None
    if name.startswith("."):
        return "hidden file, not read", None
    suffix = Path(name).suffix.lower()
    if suffix not in KINDS:
        what = f"unsupported file type {suffix!r}" if suffix else "no file suffix"
        return f"{what} (readable: {', '.join(sorted(KINDS))})", None
    target = full
    if full.is_symlink():
        try:
            target = full.resolve(strict=True)
        except RuntimeError:  # Python 3.11: a loop
            return "symbolic link loop, not read", None
        except OSError as e:
            if e.errno == errno.ELOOP:
                return "symbolic link loop, not read", None
            return f"broken symbolic link ({e.strerror or e}), not read", None
        if not target.is_relative_to(real_root):
            return "symbolic link to a file outside the directory, not read", None
    try:
        st = target.stat()
    except OSError as e:
        return f"cannot read it ({e.strerror or e})", None
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file", None
    if st.st_size > MAX_BYTES:
        return f"{st.st_size:,} bytes, over the limit of {MAX_BYTES:,}", None
    return None, target


def read_documents(root: str | Path, skipped: list[str] | None = None) -> Iterator[Document]:
    """Every readable document under ``root``, in :func:`find_documents` order; the reason each other
    entry (or unreadable file) was left out is appended to ``skipped`` when given."""
    files, left_out = find_documents(root)
    if skipped is not None:
        skipped.extend(left_out)
    for source, path in files:
        try:
            yield read_document(path, source=source)
        except (CorruptDataError, UnknownFormatError, MissingDependencyError, OSError) as e:
            if skipped is not None:
                skipped.append(skip_reason(source, e))


def skip_reason(source: str, error: BaseException) -> str:
    """``"source: why"`` for a document that could not be read."""
    if isinstance(error, CorruptDataError):
        return f"{source}: {error.reason}"
    if isinstance(error, OSError):
        return f"{source}: cannot read it ({error.strerror or error})"
    return f"{source}: {error}"


# ------------------------------------------------------------------------------------------ reading one
def read_document(path: str | Path, *, source: str | None = None) -> Document:
    """The text and title of one file (its kind from the suffix).

    Raises
    ------
    UnknownFormatError
        The suffix is not one of :data:`KINDS`.
    CorruptDataError
        The file is not text in a known encoding, holds no text, or is a PDF pypdf cannot read.
    MissingDependencyError
        A PDF was given and pypdf is not installed.
    """
    p = Path(path)
    src = source if source is not None else p.name
    kind = KINDS.get(p.suffix.lower())
    if kind is None:
        raise UnknownFormatError(f"{src}: unsupported file type {p.suffix!r}; readable: {', '.join(sorted(KINDS))}")
    stem = Path(src).stem or src
    if kind == "pdf":
        text, title, pages = _read_pdf(p, src)
        return Document(src, title or stem, text, kind, pages)
    data = p.read_bytes()
    if kind == "html":
        text, title = _html_text(_decode(data, src, html=True))
    else:
        text = _decode(data, src)
        title = _markdown_title(text) if kind == "markdown" else _first_line_heading(text)
    if not text.strip():
        raise CorruptDataError(src, "empty document (no text)")
    return Document(src, title or stem, text, kind)


def _decode(data: bytes, source: str, *, html: bool = False) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as e:
            raise CorruptDataError(source, f"not valid UTF-16 text ({e.reason})") from None
        return _newlines(text)
    if b"\x00" in data:
        raise CorruptDataError(source, "binary data (NUL bytes), not text")
    try:
        return _newlines(data.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        declared = _declared_charset(data) if html else None
        if declared is not None:
            try:
                return _newlines(data.decode(declared))
            except (UnicodeDecodeError, LookupError):
                pass
        raise CorruptDataError(source, f"not UTF-8 text (invalid byte at position {e.start}); save it as "
                                       "UTF-8") from None


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def _declared_charset(data: bytes) -> str | None:
    m = _CHARSET.search(data[:4096])
    if m is None:
        return None
    name = m.group(1).decode("ascii", "replace")
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


_HEADING = re.compile(r"^ {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def _first_line_heading(text: str) -> str | None:
    for line in text.split("\n"):
        if line.strip():
            m = _HEADING.match(line)
            return m.group(1).strip() if m else None
    return None


def _markdown_title(text: str) -> str | None:
    lines = text.split("\n")
    if lines and lines[0].strip() == "---":  # YAML front matter
        for line in lines[1:50]:
            if line.strip() in ("---", "..."):
                break
            m = re.match(r"^title:\s*(.+?)\s*$", line)
            if m:
                title = m.group(1).strip("'\"").strip()
                if title:
                    return title
    fence: str | None = None
    for line in lines:
        f = _FENCE.match(line)
        if f:
            fence = None if fence == f.group(1) else (fence or f.group(1))
            continue
        if fence is None and (m := _HEADING.match(line)):
            return m.group(1).strip()
    return None


# ------------------------------------------------------------------------------------------ HTML
_SKIP = {"script", "style", "noscript", "template", "svg"}
_BLOCK = {"address", "article", "aside", "blockquote", "br", "dd", "details", "div", "dl", "dt", "figcaption",
          "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
          "ol", "p", "pre", "section", "summary", "table", "td", "th", "tr", "ul", "title", "body", "html"}


class _HtmlText(HTMLParser):
    """Visible text of an HTML page, with its <title> and first <h1>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.pre = 0
        self.in_title = False
        self.title: list[str] = []
        self.h1_depth = 0
        self.h1: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag == "title":
            self.in_title = True
        elif tag == "pre":
            self.pre += 1
        if tag == "h1" and self.h1 is None:
            self.h1 = []
            self.h1_depth = 1
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "title":
            self.in_title = False
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag == "h1":
            self.h1_depth = 0
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.in_title:
            self.title.append(data)
            return
        text = data if self.pre else re.sub(r"\s+", " ", data)
        if self.h1_depth and self.h1 is not None:
            self.h1.append(text)
        self.parts.append(text)


def _html_text(html: str) -> tuple[str, str | None]:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    title = " ".join("".join(parser.title).split()) or None
    if title is None and parser.h1:
        title = " ".join("".join(parser.h1).split()) or None
    return text, title


# ------------------------------------------------------------------------------------------ PDF
@contextlib.contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """pypdf logs a warning for every quirk of a damaged file; one skip reason is enough."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _read_pdf(path: Path, source: str) -> tuple[str, str | None, tuple[int, ...]]:
    try:
        from pypdf import PdfReader
    except ImportError:
        raise MissingDependencyError("pypdf", "rag", "Reading PDF documents") from None
    texts: list[str] = []
    try:
        with _quiet_pypdf():
            reader = PdfReader(path)
            if reader.is_encrypted and not reader.decrypt(""):
                raise CorruptDataError(source, "encrypted PDF (needs a password)")
            for page in reader.pages:
                texts.append(_newlines(page.extract_text() or ""))
            meta = reader.metadata
            title = str(meta.title).strip() if meta is not None and meta.title else None
    except CorruptDataError:
        raise
    except Exception as e:  # a damaged or hostile file can break pypdf in many ways: skip it, say why
        raise CorruptDataError(source, f"unreadable PDF ({e.__class__.__name__}: {e})") from e
    pages: list[int] = []
    parts: list[str] = []
    at = 0
    for i, t in enumerate(texts):
        if i:
            parts.append("\n\n")
            at += 2
        pages.append(at)
        parts.append(t)
        at += len(t)
    text = "".join(parts)
    if not text.strip():
        raise CorruptDataError(source, "no extractable text (a scanned PDF? run OCR on it first)")
    return text, title or None, tuple(pages)
