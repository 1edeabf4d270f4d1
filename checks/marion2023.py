"""Claims of marion2023 (being written; see shared/theory/marion2023.md)."""
PAPER = "marion2023"
