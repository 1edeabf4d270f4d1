"""Experiments of chen2022 (being written)."""
