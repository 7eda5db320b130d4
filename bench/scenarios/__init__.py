"""One module per benchmark section (bench/run.py runs them in order)."""
