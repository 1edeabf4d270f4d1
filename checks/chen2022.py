"""Claims of chen2022 (being written; see shared/theory/chen2022.md)."""
PAPER = "chen2022"
