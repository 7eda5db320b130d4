"""Attentive: everything the pipeline knows of this platform, in one folder: the adapter (``adapter.py``,
ending with its ``SPEC``) and the wire encoding (``encoding.py``). One line in
pipeline/destinations/registry.py registers it."""

from pipeline.destinations.attentive.adapter import SPEC, AttentiveDestination

__all__ = ["SPEC", "AttentiveDestination"]
