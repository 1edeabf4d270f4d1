"""``python -m flowcert``: the ``flowcert`` command."""
import sys

from flowcert._command import main

sys.exit(main())
