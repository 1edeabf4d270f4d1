"""Argument types shared by the CLI and the commands papers add to it (cheap: argparse only)."""
from __future__ import annotations

import argparse

from ._experiment import UsageError


class Parser(argparse.ArgumentParser):
    """One-line errors; ``epilog_fn`` computes the epilog only when the help is shown (listing the
    claims or experiments imports them, which a plain command line must not pay for)."""

    def __init__(self, *args, epilog_fn=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.epilog_fn = epilog_fn

    def format_help(self):
        if self.epilog_fn is not None:
            self.epilog = self.epilog_fn()
        return super().format_help()

    def error(self, message):  # one line, not argparse's usage dump
        raise UsageError(message)


def positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        v = 0
    if v <= 0:  # argparse prefixes "argument NAME:" to this message
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}")
    return v


def nonneg_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {s!r}")
    return v
