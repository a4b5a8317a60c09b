"""Reading documents for RAG: text, Markdown, HTML, PDF; titles; what is skipped and why; nothing outside the dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from embspace.apps.documents import Document, find_documents, read_document, read_documents
from embspace.errors import CorruptDataError, InvalidInputError, UnknownFormatError


def write_pdf(path: Path, pages: list[str], title: str | None = None) -> None:
    """A PDF with one line of Helvetica text per page, made with pypdf's own objects."""
    pypdf = pytest.importorskip("pypdf")
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    w = pypdf.PdfWriter()
    for text in pages:
        page = w.add_blank_page(width=612, height=792)
        font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                                 NameObject("/BaseFont"): NameObject("/Helvetica")})
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): w._add_object(font)})})
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode() if text else b"")
        page[NameObject("/Contents")] = w._add_object(stream)
    if title:
        w.add_metadata({"/Title": title})
    with open(path, "wb") as fh:
        w.write(fh)


def test_text_keeps_the_text_and_takes_a_first_line_heading_as_title(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"# River banks\r\n\r\nWater flows.\r\n")
    doc = read_document(tmp_path / "a.txt")
    assert doc == Document("a.txt", "River banks", "# River banks\n\nWater flows.\n", "text")
    (tmp_path / "plain.txt").write_text("no heading here\n# not a title: not the first line\n")
    assert read_document(tmp_path / "plain.txt").title == "plain"  # the file name without suffix
    (tmp_path / "bom.txt").write_bytes("\ufeffhello".encode())
    assert read_document(tmp_path / "bom.txt").text == "hello"
    (tmp_path / "u16.txt").write_bytes("héllo wörld".encode("utf-16"))
    assert read_document(tmp_path / "u16.txt").text == "héllo wörld"


def test_markdown_title_from_front_matter_or_first_heading_outside_code(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("Intro line\n```bash\n# a shell comment\n```\n## Sub\n# Real title ##\nBody\n")
    doc = read_document(tmp_path / "a.md")
    assert doc.title == "Real title" and doc.kind == "markdown"
    assert doc.text.startswith("Intro line\n```bash")  # markup kept: offsets index the file's text
    (tmp_path / "b.md").write_text("---\ntitle: 'Front matter'\ntags: [x]\n---\n# Heading\n")
    assert read_document(tmp_path / "b.md").title == "Front matter"
    (tmp_path / "c.markdown").write_text("just text")
    assert read_document(tmp_path / "c.markdown").title == "c"


def test_html_visible_text_without_scripts_and_title(tmp_path: Path) -> None:
    page = ("<!doctype html><html><head><title> The  Page </title><style>p {color: red}</style>"
            "<script>var secret = 1;</script></head><body><h1>Big heading</h1><p>First &amp; second"
            "<br>line</p><noscript>enable js</noscript><ul><li>one</li><li>two</li></ul>"
            "<pre>  keep\n  spaces</pre></body></html>")
    (tmp_path / "p.html").write_text(page)
    doc = read_document(tmp_path / "p.html")
    assert doc.title == "The Page" and doc.kind == "html"
    assert "secret" not in doc.text and "color" not in doc.text and "enable js" not in doc.text
    assert "The Page" not in doc.text  # the title is metadata, not body text
    lines = doc.text.split("\n")
    assert "Big heading" in lines and "First & second" in lines and "line" in lines and "one" in lines
    assert "two" in lines
    (tmp_path / "h.htm").write_text("<body><h1>Only <b>h1</b></h1><p>text</p></body>")
    assert read_document(tmp_path / "h.htm").title == "Only h1"
    (tmp_path / "latin.html").write_bytes('<meta charset="iso-8859-1"><p>caf\xe9</p>'.encode("latin-1"))
    assert read_document(tmp_path / "latin.html").text == "café"


def test_pdf_text_pages_and_title(tmp_path: Path) -> None:
    write_pdf(tmp_path / "d.pdf", ["Hello cat world", "Second page dog"], title="A PDF")
    doc = read_document(tmp_path / "d.pdf")
    assert doc.kind == "pdf" and doc.title == "A PDF"
    assert doc.text == "Hello cat world\n\nSecond page dog"
    assert doc.pages == (0, 17)
    assert doc.page_of(0) == 1 and doc.page_of(16) == 1 and doc.page_of(17) == 2 and doc.page_of(30) == 2
    write_pdf(tmp_path / "untitled.pdf", ["x y"])
    assert read_document(tmp_path / "untitled.pdf").title == "untitled"


def test_unreadable_files_raise_clear_errors(tmp_path: Path) -> None:
    write_pdf(tmp_path / "scan.pdf", [""])
    with pytest.raises(CorruptDataError, match="no extractable text"):
        read_document(tmp_path / "scan.pdf")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    with pytest.raises(CorruptDataError, match="unreadable PDF"):
        read_document(tmp_path / "broken.pdf")
    (tmp_path / "bin.txt").write_bytes(b"abc\x00def")
    with pytest.raises(CorruptDataError, match="binary"):
        read_document(tmp_path / "bin.txt")
    (tmp_path / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(CorruptDataError, match="not UTF-8"):
        read_document(tmp_path / "latin.txt")
    (tmp_path / "empty.md").write_text("  \n\n")
    with pytest.raises(CorruptDataError, match="empty"):
        read_document(tmp_path / "empty.md")
    (tmp_path / "x.docx").write_text("x")
    with pytest.raises(UnknownFormatError, match="unsupported"):
        read_document(tmp_path / "x.docx")


def test_find_documents_sorted_with_reasons_for_everything_left_out(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.txt").write_text("z")
    (tmp_path / "a.md").write_text("a")
    (tmp_path / "C.HTML").write_text("<p>c</p>")
    (tmp_path / "notes.docx").write_text("x")
    (tmp_path / "Makefile").write_text("x")
    (tmp_path / ".hidden.txt").write_text("x")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config.txt").write_text("x")
    os.mkfifo(tmp_path / "pipe.txt")  # reading it would block forever
    found, skipped = find_documents(tmp_path)
    assert [s for s, _ in found] == ["C.HTML", "a.md", "b/z.txt"]
    reasons = dict(s.split(": ", 1) for s in skipped)
    assert reasons[".git/"].startswith("hidden directory")
    assert reasons[".hidden.txt"].startswith("hidden file")
    assert reasons["notes.docx"].startswith("unsupported file type '.docx'")
    assert reasons["Makefile"].startswith("no file suffix")
    assert reasons["pipe.txt"] == "not a regular file"
    assert "config.txt" not in " ".join(skipped)  # a hidden directory is not walked
    with pytest.raises(InvalidInputError, match="not a directory"):
        find_documents(tmp_path / "a.md")


def test_links_leading_outside_the_directory_are_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ok.txt").write_text("fine")
    (docs / "leak.txt").symlink_to(outside / "secret.txt")
    (docs / "dots.txt").symlink_to(Path("..") / "outside" / "secret.txt")
    (docs / "linked_dir").symlink_to(outside, target_is_directory=True)
    (docs / "alias.txt").symlink_to(docs / "ok.txt")  # inside: followed
    skipped: list[str] = []
    texts = {d.source: d.text for d in read_documents(docs, skipped)}
    assert texts == {"alias.txt": "fine", "ok.txt": "fine"}
    assert not any("SECRET" in t for t in texts.values())
    reasons = dict(s.split(": ", 1) for s in skipped)
    assert "outside the directory" in reasons["leak.txt"] and "outside the directory" in reasons["dots.txt"]
    assert "not followed" in reasons["linked_dir/"]


def test_read_documents_reports_unreadable_files_and_goes_on(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("# Good\nbody")
    (tmp_path / "bad.txt").write_bytes(b"\xfa\xfb not utf8 \x00")
    skipped: list[str] = []
    docs = list(read_documents(tmp_path, skipped))
    assert [d.source for d in docs] == ["good.md"]
    assert skipped == ["bad.txt: binary data (NUL bytes), not text"]


def test_symlink_loops_and_non_utf8_names_are_skipped_with_a_reason(tmp_path: Path) -> None:
    """Issue 23: a symbolic link loop (RuntimeError) or a file name in non-UTF-8 bytes (a lone surrogate
    that no database or terminal takes) aborted the whole ingest; each is now skipped with its reason."""
    import os

    (tmp_path / "ok.txt").write_text("fine")
    (tmp_path / "self.txt").symlink_to(tmp_path / "self.txt")
    (tmp_path / "a.md").symlink_to(tmp_path / "b.md")
    (tmp_path / "b.md").symlink_to(tmp_path / "a.md")
    (tmp_path / "gone.txt").symlink_to(tmp_path / "missing.txt")
    with open(os.path.join(os.fsencode(tmp_path), b"caf\xe9.txt"), "wb") as f:
        f.write(b"latin-1 named")
    os.mkdir(os.path.join(os.fsencode(tmp_path), b"dir\xff"))
    with open(os.path.join(os.fsencode(tmp_path), b"dir\xff", b"in.txt"), "wb") as f:
        f.write(b"inside")
    skipped: list[str] = []
    texts = {d.source: d.text for d in read_documents(tmp_path, skipped)}
    assert texts == {"ok.txt": "fine"}
    reasons = dict(s.split(": ", 1) for s in skipped)
    assert "symbolic link loop" in reasons["self.txt"]
    assert "symbolic link loop" in reasons["a.md"] and "symbolic link loop" in reasons["b.md"]
    assert "broken symbolic link" in reasons["gone.txt"]
    assert "not valid UTF-8" in reasons["caf\\xe9.txt"]
    assert "not valid UTF-8" in reasons["dir\\xff/"]
    for line in skipped:
        line.encode("utf-8")  # every reason prints and stores
