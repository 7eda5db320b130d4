"""Tests of the bench instruments (bench/)."""
