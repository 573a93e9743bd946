"""Benchmarks: accuracy and speed on real data. Each writes JSON; the README holds the table."""
