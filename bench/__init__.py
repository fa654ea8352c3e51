"""Benchmark scripts (run as `python bench/<name>.py`); a package so the tests can import their simulations."""
