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


#: the most digits a command computes with (--dps): beyond, an evaluation or a flow runs for hours
#: and its numbers outgrow memory; the precision context itself stops at 100,000
MAX_DIGITS = 10_000


def digits(s: str) -> int:
    """``--dps``: a positive integer up to :data:`MAX_DIGITS`."""
    v = positive_int(s)
    if v > MAX_DIGITS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_DIGITS} digits, got {s}")
    return v


def nonneg_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {s!r}")
    return v
