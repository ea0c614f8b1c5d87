"""Benchmarks run as scripts (``python bench/wire.py``); a package so tests import them as ``bench.*``."""
