"""Worked examples of benchmarking your own method (README, "Benchmark your own method")."""
