"""Simulators of microscopy volumes with ground truth (brightfield colonies)."""
