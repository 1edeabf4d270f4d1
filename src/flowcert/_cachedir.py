"""Where flowcert keeps what it remembers, and whether it may: shared by theory/ (derivations) and
the CLI (listings, claim times) without importing either's heavy dependencies."""
from __future__ import annotations

import os
from pathlib import Path

#: ``disk``: None (decided by FLOWCERT_NO_CACHE), True or False; ``digest``: theory/'s, once computed
_STATE: dict = {"disk": None, "digest": None}


def cache_dir() -> Path:
    """``$FLOWCERT_CACHE_DIR``, else ``$XDG_CACHE_HOME/flowcert``, else ``~/.cache/flowcert``."""
    if os.environ.get("FLOWCERT_CACHE_DIR"):
        return Path(os.environ["FLOWCERT_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "flowcert"


def enabled() -> bool:
    """Whether anything is read from or written to the cache directory."""
    if _STATE["disk"] is None:
        return os.environ.get("FLOWCERT_NO_CACHE", "").strip().lower() in ("", "0", "false", "no")
    return _STATE["disk"]


def disable() -> None:
    _STATE["disk"] = False


def enable() -> None:
    _STATE["disk"] = True
