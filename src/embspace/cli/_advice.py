"""Library messages that surface on the command line, with their Python advice put in CLI terms.

The library's errors say how to fix a call (``readonly=True``, ``upsert``, ``encoder=...``); on the
command line the fix is a command or a flag. :func:`cli_message` rewrites the known phrases; a test
keeps this table in step with the messages (each library phrase must still exist in the source).
"""

from __future__ import annotations

import re

#: (library phrase, its CLI wording). Phrases are literal text of messages raised under src/embspace.
ADVICE: tuple[tuple[str, str], ...] = (
    ("open it with readonly=True, or close the writer",
     "stop the process writing it (an 'embspace serve' without --readonly, or another write command) and run "
     "this again; reading commands (embspace search, embspace collection info, embspace collection export) work "
     "meanwhile"),
    ("use upsert to replace", "add --upsert to replace them"),
    ("(or create it with encoder=...)", "(or create one with 'embspace collection create PATH --model NAME')"),
    ("create it with encoder=... to add texts", "create one with 'embspace collection create PATH --model NAME' "
                                                  "to add texts"),
    ("give dim (a positive int) or an encoder", "give --dim N or --model NAME"),
    ("dim= (the encoder", "--dim (the encoder"),
    ("pass where=None (not an empty string) to match every item", "leave out --where to match every item"),
    ("use mode='vector'", "use --mode vector"),
    ("use mode='bm25'", "use --mode bm25"),
    ("(key_field, --key-field)", "(--key-field)"),
    ("chunk=TOKENS splits", "--chunk TOKENS splits"),
    ("or one created with an encoder (encoder='minilm')", "or one created with an encoder (embspace ingest DIR -c "
                                                          "NEW --encoder minilm)"),
    ("leave the encoder out to use the collection's own", "leave out --encoder to use the collection's own"),
    ("(embspace encode --chunk splits long texts instead)", "(--chunk TOKENS splits long texts instead)"),
    # reading a legacy vector file (embspace.load's encoding=, unicode_errors=, limit=)
    ("pass encoding= (e.g. ", "give --encoding (e.g. "),  # then encoding='latin-1' reads --encoding latin-1
    ("pass unicode_errors='replace' or 'ignore' (gensim's load_word2vec_format has the same two options)",
     "give --unicode-errors replace (or ignore)"),
    ("pass the file's encoding= instead", "give the file's --encoding instead"),
    ("unknown unicode_errors", "unknown --unicode-errors"),
    ("leave them out (the first rows: space.subset(space.keys[:n]))", "leave them out"),
    # a collection's rescoring (Collection.create(..., rescore=), search(..., rescore=))
    ("rescore= is for local collections", "--rescore is for local collections"),
    ("0 (no rescoring) or None", "or 0 (no rescoring)"),
    ("open it with Collection.open", "add to it with 'embspace collection add', or give another path"),
)

#: (keyword argument, its flag): ``name=value`` in a message (the options a call was given, as
#: ``encoding='latin-1', limit=5``) reads ``--flag value`` on the command line. Applied after :data:`ADVICE`.
KEYWORDS: tuple[tuple[str, str], ...] = (
    ("encoding", "--encoding"), ("unicode_errors", "--unicode-errors"), ("limit", "--limit"),
)

_PATTERN = re.compile("|".join(re.escape(phrase) for phrase, _ in ADVICE))
_TABLE = dict(ADVICE)
_KEYWORD = re.compile(r"(?<![\w.-])(" + "|".join(re.escape(k) for k, _ in KEYWORDS) + r")=(?:'([^'\s]*)'|(-?\d+))")
_FLAGS = dict(KEYWORDS)


def cli_message(message: str) -> str:
    """``message`` with each known piece of Python advice replaced by the command-line equivalent."""
    message = _PATTERN.sub(lambda m: _TABLE[m.group(0)], message)
    return _KEYWORD.sub(lambda m: f"{_FLAGS[m.group(1)]} {m.group(2) if m.group(2) is not None else m.group(3)}",
                        message)


__all__ = ["ADVICE", "KEYWORDS", "cli_message"]
