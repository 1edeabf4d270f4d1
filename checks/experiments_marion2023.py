"""Experiments of marion2023 (being written)."""
