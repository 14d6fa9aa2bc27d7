"""Fakes of external tools, for tests that exercise real subprocess calls."""
