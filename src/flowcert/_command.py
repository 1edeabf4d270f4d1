"""The ``flowcert`` command's entry point. The CLI is imported inside it, so that Ctrl-C while it
loads ends in the CLI's one line (exit 130) instead of a traceback."""
from __future__ import annotations

import sys


def main(argv=None) -> int:
    try:
        from flowcert.checks.cli import main as cli
    except KeyboardInterrupt:
        print("flowcert: interrupted", file=sys.stderr)
        return 130
    return cli(argv)
