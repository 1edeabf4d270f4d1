"""``python -m flowcert``: the ``flowcert`` command."""
import sys

from flowcert.checks.cli import main

sys.exit(main())
