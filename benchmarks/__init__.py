"""Benchmarks: scripts that print figures. Tests never assert on timings (DESIGN.md section 8)."""
