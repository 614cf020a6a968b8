"""Benchmarks of issue 10: `python3 tasks.py bench` (see README.md here)."""
