"""A memo of symbolic derivations, in memory and on disk.

Deriving a gradient, a flow or a set of conservation laws with SymPy costs up to seconds and gives
the same expression every time; a verification run asks for the same ones from many claims, and
every run starts from nothing. :func:`derivation` remembers them: in the process, and in files
under the user's cache directory (``$FLOWCERT_CACHE_DIR``, else ``$XDG_CACHE_HOME/flowcert``, else
``~/.cache/flowcert``).

An entry is keyed by everything its value is a function of: the function's qualified name, its
arguments (their expression trees, every symbol with its assumptions), a digest of theory/'s
source, and the versions of flowcert, SymPy and Python. An edited derivation, an upgraded SymPy or
a new release therefore never reads an old entry; old entries are just never read again
(``flowcert cache --clear`` removes them).

Concurrent runs are safe: an entry is written to a temporary file in the same directory and moved
into place with :func:`os.replace`, so a reader sees a whole entry or none; two processes deriving
the same entry write the same bytes. An entry that cannot be read (damaged, from an incompatible
pickle) is derived again and rewritten. Entries are pickles, trusted like the user's own files:
the directory is the user's.

``FLOWCERT_NO_CACHE=1`` (or :func:`disable`, or ``flowcert --no-cache``) bypasses the disk;
derivations are still shared within one process.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import os
import pickle
import sys
from fractions import Fraction
import tempfile
import time
from collections import Counter
from pathlib import Path

import sympy as sp

from flowcert._cachedir import _STATE, cache_dir, disable, enable, enabled  # noqa: F401 (re-exported)

#: the process's own memo: key -> value
_MEMORY: dict[str, object] = {}
#: seconds spent deriving, and entries read from disk, per function (``FLOWCERT_CACHE_STATS=1``)
DERIVED: Counter = Counter()
LOADED: Counter = Counter()


@contextlib.contextmanager
def disabled():
    """Derive everything within the block afresh: neither memo is read or written."""
    saved, memory = _STATE["disk"], dict(_MEMORY)
    _STATE["disk"] = False
    _MEMORY.clear()
    try:
        yield
    finally:
        _STATE["disk"] = saved
        _MEMORY.clear()
        _MEMORY.update(memory)


def _digest() -> str:
    """flowcert's, SymPy's and Python's versions and theory/'s source: what every entry depends on."""
    if _STATE["digest"] is None:
        from flowcert import __version__
        h = hashlib.sha256(f"{__version__}|{sp.__version__}|{sys.version}|{pickle.HIGHEST_PROTOCOL}".encode())
        for f in sorted(Path(__file__).parent.glob("*.py")):
            h.update(f.name.encode())
            h.update(f.read_bytes())
        _STATE["digest"] = h.hexdigest()[:16]
    return _STATE["digest"]


#: where an instance keeps what its derived properties computed (not part of its key)
_OWN = "_derived_values"


class derived(functools.cached_property):
    """A cached property that a remembered derivation may leave out of its instance's key: the
    value is a function of the instance's other state, so spelling it would only make the key
    depend on what happened to be computed first. A value put in its place by hand (a test
    planting a wrong gradient) is not the property's own and keys the instance."""

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        d = instance.__dict__
        if self.attrname in d:
            return d[self.attrname]
        value = super().__get__(instance, owner)
        d.setdefault(_OWN, {})[self.attrname] = value   # a reference, so that `is` can tell it apart
        return value


def _state(x) -> list:
    """An object's attributes, less what its derived properties computed themselves."""
    own = vars(x).get(_OWN, {})
    return sorted((k, v) for k, v in vars(x).items() if k != _OWN and not (k in own and own[k] is v))


def _spell(x) -> str:
    """An argument as text that determines it (symbols with their assumptions). An object is
    spelled with its whole state — a dataclass's fields and whatever its cached properties hold —
    so that an instance with a planted or edited attribute never reads a clean instance's entry;
    ``cache_key()`` replaces that where the state is a function of a few fields."""
    key = getattr(x, "cache_key", None)
    if callable(key) and not isinstance(x, type):
        return f"{type(x).__qualname__}({_spell(key())})"
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        names = [f.name for f in dataclasses.fields(x)]
        extra = [(k, v) for k, v in _state(x) if k not in names]
        return f"{type(x).__qualname__}{_spell(tuple(getattr(x, n) for n in names))}{_spell(extra)}"
    if isinstance(x, (tuple, list)):
        return "(" + ",".join(_spell(y) for y in x) + ")"
    if isinstance(x, dict):
        return "{" + ",".join(f"{_spell(k)}:{_spell(v)}" for k, v in x.items()) + "}"
    if x is None or isinstance(x, (bool, int, str)):
        return repr(x)
    if isinstance(x, Fraction):
        return f"Fraction({x.numerator},{x.denominator})"
    if isinstance(x, float) or type(x).__name__ in ("float64", "float32"):
        return f"float({float(x).hex()})"
    if isinstance(x, sp.Basic):
        return _spell_tree(x, {})
    if isinstance(x, sp.MatrixBase):
        return sp.srepr(x)
    if type(x).__module__.startswith("flowcert.") and hasattr(x, "__dict__"):
        return f"{type(x).__qualname__}{_spell(_state(x))}"
    raise TypeError(f"derivation: cannot key an argument of type {type(x).__name__}")


def _spell_tree(e: sp.Basic, memo: dict) -> str:
    """``e`` as its class and arguments, recursively; leaves (symbols with their assumptions,
    numbers) by ``srepr``. A Basic is ``type(e)(*e.args)``, so this determines it as ``srepr``
    does, at a twentieth of the cost: ``srepr`` sorts the terms of every sum and product (70 ms
    for one of marion2023's gradient integrals). Classes from outside SymPy and flowcert (an
    undefined function's applied class) are spelled by ``srepr``."""
    out = memo.get(id(e))
    if out is None:
        cls = type(e)
        if not e.args or not (cls.__module__ or "").startswith(("sympy.", "flowcert.")):
            out = sp.srepr(e)
        else:
            out = f"{cls.__module__}.{cls.__qualname__}({','.join(_spell_tree(a, memo) for a in e.args)})"
        memo[id(e)] = out
    return out


def _path(key: str) -> Path:
    return cache_dir() / _digest() / f"{key}.pickle"


def _load(key: str):
    try:
        with open(_path(key), "rb") as f:
            return pickle.load(f)
    except FileNotFoundError:
        raise KeyError(key) from None
    except Exception:  # a damaged or incompatible entry is derived again
        raise KeyError(key) from None


def _store(key: str, value) -> None:
    path = _path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pickle", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except (OSError, pickle.PicklingError, TypeError, AttributeError, RecursionError):
        pass  # an unwritable cache costs time, never a result


def _copy(value):
    # callers may extend a dict or list they were given; the memo keeps its own
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


def derivation(fn):
    """Remember ``fn``'s value for its arguments, in the process and on disk.

    ``fn`` must be a pure function of its arguments (and of theory/'s code) returning immutable
    or picklable values: SymPy expressions, tuples, dicts and lists of them. Methods key their
    instance by its whole state (see :func:`_spell`) or its ``cache_key()``.
    """
    name = f"{fn.__module__}.{fn.__qualname__}"

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            spelled = _spell(args) + (_spell(sorted(kwargs.items())) if kwargs else "")
        except TypeError:  # an argument without a spelling (a callable): derive, remember nothing
            return fn(*args, **kwargs)
        key = hashlib.sha256(f"{name}|{spelled}".encode()).hexdigest()[:32]
        if key in _MEMORY:
            return _copy(_MEMORY[key])
        disk = enabled()
        if disk:
            try:
                value = _load(key)
            except KeyError:
                pass
            else:
                LOADED[name] += 1
                _MEMORY[key] = value
                return _copy(value)
        t0 = time.perf_counter()
        value = fn(*args, **kwargs)
        DERIVED[name] += time.perf_counter() - t0
        _MEMORY[key] = value
        if disk:
            _store(key, value)
        return _copy(value)

    wrapper.uncached = fn
    return wrapper


def clear() -> int:
    """Remove every entry on disk (of every version); returns how many files went."""
    root, gone = cache_dir(), 0
    if not root.is_dir():
        return 0
    for sub in root.iterdir():
        if sub.is_dir() and len(sub.name) == 16:
            for f in sub.glob("*.pickle"):
                with contextlib.suppress(OSError):
                    f.unlink()
                    gone += 1
            for f in sub.glob(".tmp-*"):
                with contextlib.suppress(OSError):
                    f.unlink()
            with contextlib.suppress(OSError):
                sub.rmdir()
    _MEMORY.clear()
    return gone


if os.environ.get("FLOWCERT_CACHE_STATS"):
    import atexit
    atexit.register(lambda: print(stats(), file=sys.stderr))


def stats() -> str:
    """Seconds spent deriving per function, and entries read from disk (for profiling)."""
    names = sorted(set(DERIVED) | set(LOADED), key=lambda n: -DERIVED[n])
    return "\n".join(f"{DERIVED[n]:8.3f} s derived, {LOADED[n]:3d} loaded  {n}" for n in names)
