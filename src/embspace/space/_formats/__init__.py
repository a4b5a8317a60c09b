"""Readers and writers of vector file formats (private; use :mod:`embspace.space.io`)."""
