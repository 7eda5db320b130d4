"""Postscript: everything the pipeline knows of this platform, in one folder: the adapter (``adapter.py``,
ending with its ``SPEC``) and the wire encoding (``encoding.py``). One line in
pipeline/destinations/registry.py registers it."""

from pipeline.destinations.postscript.adapter import SPEC, PostscriptDestination

__all__ = ["SPEC", "PostscriptDestination"]
