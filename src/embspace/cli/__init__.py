"""The ``embspace`` command line (Typer)."""
