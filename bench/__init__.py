"""Benchmarks: each ``bench_*.py`` compares kitekit with a baseline side by side and prints a ratio."""
