"""Peer servers the benchmark compares ours with, each behind a `Target` (see README.md)."""
