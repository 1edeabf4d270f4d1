"""Argument types shared by the CLI and the commands papers add to it (cheap: argparse only)."""
from __future__ import annotations

import argparse
import re
from fractions import Fraction

from ._experiment import UsageError

#: the longest number text read exactly, and the largest decimal exponent: beyond them a number
#: is a mistake or an attack (Python refuses integers of more than 4300 digits anyway)
MAX_NUMBER_CHARS = 100
MAX_EXPONENT = 1000


def clip(value, width: int = 60) -> str:
    """``repr(value)``, cut to ``width`` characters: a message must stay one readable line."""
    r = repr(value)
    return r if len(r) <= width else f"{r[:width - 15]}... ({len(r)} chars)"


def read_fraction(text, what: str) -> Fraction:
    """A decimal or rational text (``0.6``, ``3/5``, ``1e-3``) read exactly, or a one-line
    :class:`UsageError` naming ``what``; long texts and huge exponents are refused before any
    big integer is built."""
    s = str(text).strip()
    if len(s) > MAX_NUMBER_CHARS:
        raise UsageError(f"{what}: expected a number of at most {MAX_NUMBER_CHARS} characters, got {clip(s)}")
    m = re.search(r"[eE]([+-]?[0-9]+)$", s)
    if m and abs(int(m.group(1))) > MAX_EXPONENT:
        raise UsageError(f"{what}: exponent {m.group(1)} out of range (at most {MAX_EXPONENT} in size), got {clip(s)}")
    try:
        return Fraction(s)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"{what}: expected a number like 0.6, 3/5 or 1e-3, got {clip(s)}") from None


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
