"""Judging models against truth: the calibration campaign and the head-to-head benchmark share this package."""
