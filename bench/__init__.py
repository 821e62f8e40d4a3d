"""Benchmarks: measuring, never asserting (see README.md here)."""
