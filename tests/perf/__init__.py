"""Benchmarks of the server (not collected by pytest): `python -m tests.perf.bench_intake`."""
