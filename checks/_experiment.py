"""Experiments: a paper's parameters as defaults, overridable, and the code that reproduces them."""
from __future__ import annotations

import ast
import contextlib
import contextvars
import errno
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping


class UsageError(ValueError):
    """Bad input from the user: the CLI prints it on one line and exits with status 2."""


#: appended to a work limit's message: the limits catch a slip (1e15 typed for 1e5), not intent
LIFT = "; FLOWCERT_NO_LIMITS=1 lifts the limit"


def beyond(value, most) -> bool:
    """``value > most``, unless ``FLOWCERT_NO_LIMITS`` is set: a run that large is then the
    user's choice, memory and days included."""
    return value > most and not os.environ.get("FLOWCERT_NO_LIMITS")


@dataclass(frozen=True)
class Experiment:
    """``run(params, out, progress) -> dict`` writes its files under ``out`` and returns the
    JSON-able results (numbers, the paper's reported values beside them, file names).

    ``defaults`` are the paper's parameters and ``keys`` says what each means (one line, shown by
    ``flowcert reproduce NAME --help``); ``choices`` restricts string keys; ``figure`` names the
    paper's figure or table it reproduces; ``renamed`` maps former key names to current ones, so
    that an old command line gets told the new name; ``checkpoints`` says that ``run`` saves its
    finished units (``--checkpoint``/``--resume``).
    """

    name: str
    paper: str
    description: str
    defaults: Mapping[str, Any]
    run: Callable[[dict, Path, Callable], dict]
    choices: Mapping[str, tuple] = field(default_factory=dict)
    validate: Callable[[dict], None] | None = None
    keys: Mapping[str, str] = field(default_factory=dict)
    figure: str = ""
    renamed: Mapping[str, str] = field(default_factory=dict)
    #: whether ``run`` saves its finished units through :func:`checkpoint` (``--checkpoint`` is
    #: refused for an experiment that would save nothing)
    checkpoints: bool = False
    limits: str = ""

    def params(self, overrides: Mapping[str, Any] | None = None) -> dict:
        p = dict(self.defaults)
        for k, v in (overrides or {}).items():
            if k not in p and k in self.renamed:
                raise UsageError(f"--set {k}: this key is now called {self.renamed[k]} "
                                 f"({self.keys.get(self.renamed[k], '')})")
            if k not in p:
                raise UsageError(f"--set {k}: unknown key for {self.name}; expected one of "
                                 f"{', '.join(sorted(p))} (flowcert {self.command} {self.name} --help)")
            p[k] = coerce(k, v, p[k])
            if k in self.choices and p[k] not in self.choices[k]:
                raise UsageError(f"--set {k}: expected one of {', '.join(map(str, self.choices[k]))}, "
                                 f"got {p[k]!r}")
        if self.validate is not None:
            self.validate(p)
        return p

    command = "reproduce"

    def key_lines(self) -> list[str]:
        """One line per ``--set`` key: name, type, default, meaning (and its choices)."""
        rows = [(k, type_name(v), "auto" if v is None else repr(v),
                 self.keys.get(k, "") + (f" (one of {', '.join(map(str, self.choices[k]))})"
                                         if k in self.choices else ""))
                for k, v in self.defaults.items()]
        w = [max(len(r[i]) for r in rows) for i in range(3)] if rows else [0, 0, 0]
        return [f"  {k:<{w[0]}}  {t:<{w[1]}}  {d:<{w[2]}}  {m}" for k, t, d, m in rows]

    def help(self) -> str:
        """What ``flowcert reproduce NAME --help`` prints."""
        head = f"{self.name} ({self.paper}{', ' + self.figure if self.figure else ''}): {self.description}"
        lines = [head, "", f"flowcert {self.command} {self.name} [--set KEY=VALUE ...]; keys (type, "
                 "default, meaning):", *self.key_lines()]
        if self.limits:
            import textwrap
            lines += ["", *textwrap.wrap(f"limits, refused before the run (FLOWCERT_NO_LIMITS=1 lifts them): "
                                         f"{self.limits}", 100, subsequent_indent="  ")]
        return "\n".join(lines) + "\n"


def type_name(v) -> str:
    """The type of a parameter as ``--help`` shows it."""
    if v is None:
        return "optional"
    if isinstance(v, (list, tuple)):
        inner = {type_name(x) for x in v}
        return f"list of {inner.pop()}" if len(inner) == 1 else "list"
    return type(v).__name__


def check_keys(item) -> None:
    """Every key of an experiment or sweep says what it means, and its name is its paper's."""
    if item.name != item.paper and not item.name.startswith(item.paper + "-"):
        raise ValueError(f"{item.command} {item.name!r}: the name must be its paper's id {item.paper!r} or "
                         f"start with '{item.paper}-'")
    missing = [k for k in item.defaults if not item.keys.get(k)]
    if missing:
        raise ValueError(f"{item.command} {item.name!r}: keys without a meaning: {', '.join(missing)}")
    unknown = [k for k in item.keys if k not in item.defaults]
    if unknown:
        raise ValueError(f"{item.command} {item.name!r}: meanings of keys it does not have: {', '.join(unknown)}")


def coerce(key: str, value, default):
    """Read a ``--set`` value as the type of the paper's default."""
    if not isinstance(value, str):
        return value
    if isinstance(default, str):
        return value
    from ._args import clip
    if len(value) > 10_000:
        raise UsageError(f"--set {key}: a value of {len(value)} characters; at most 10000")
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise UsageError(f"--set {key}={clip(value)}: expected a value like {default!r}") from None
    if isinstance(default, bool):
        ok = isinstance(parsed, bool)
    elif isinstance(default, int):
        if isinstance(parsed, float) and math.isfinite(parsed) and parsed.is_integer():
            parsed = int(parsed)        # steps=1e5 is 100000 (a count written the way it is said)
        ok = isinstance(parsed, int) and not isinstance(parsed, bool)
    elif isinstance(default, float):
        ok = isinstance(parsed, (int, float)) and not isinstance(parsed, bool)
        parsed = float(parsed) if ok else parsed
    elif isinstance(default, (list, tuple)):
        ok = isinstance(parsed, (list, tuple))
        parsed = type(default)(parsed) if ok else parsed
    else:
        ok = True
    if not ok:
        kind = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
                "list": "a list"}.get(type(default).__name__, f"a {type(default).__name__}")
        raise UsageError(f"--set {key}={clip(value)}: expected {kind} like {default!r}")
    return parsed


def as_int(key: str, v, low: int = 1) -> int:
    """A parameter that must be an integer >= ``low`` (bools refused); a one-line error naming ``key``."""
    import numpy as np
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise UsageError(f"{key}: expected {what}, got {v!r}")
    return int(v)


def as_real(key: str, v, positive: bool = True) -> float:
    """A parameter that must be a finite number, > 0 (or >= 0 with ``positive=False``)."""
    import numpy as np
    ok = not isinstance(v, bool) and isinstance(v, (int, float, np.floating, np.integer))
    ok = ok and math.isfinite(v) and (v > 0 if positive else v >= 0)
    if not ok:
        raise UsageError(f"{key}: expected a finite number {'> 0' if positive else '>= 0'}, got {v!r}")
    return float(v)


def parse_sets(items) -> dict:
    out = {}
    for item in items or ():
        if "=" not in item:
            raise UsageError(f"--set {item}: expected KEY=VALUE")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it; put it back at once
    os.umask(mask)
    return mask


#: the mark of write_atomic's temporary files: the only files a checkpoint ever deletes
_TMP = ".flowcert-partial-"


#: an experiment's output files held back while it runs (see :func:`collected`)
_HELD: contextvars.ContextVar = contextvars.ContextVar("flowcert_held_outputs", default=None)


def write_atomic(path: Path | str, data: str | bytes) -> None:
    """Write a file so that a reader never sees half of it (temporary file, then rename). A
    symbolic link is written through (its target is replaced, the link kept); a device or a pipe
    is written in place.

    The file gets the mode a plain ``open`` would give (0644 under umask 022): the temporary
    file's private 0600 must not survive the rename. Inside :func:`collected`, a file under its
    directory is held and written with the others at the end instead."""
    held = _HELD.get()
    if held is not None:
        directory, files = held
        p = Path(path).absolute()
        if p.parent == directory or directory in p.parents:
            files[p] = data
            return
    write_together({path: data})


@contextlib.contextmanager
def collected(directory):
    """Hold every :func:`write_atomic` under ``directory`` in the yielded ``{path: data}`` rather
    than writing it: the caller writes them with its reports in one :func:`write_together`, so
    that a run that fails half-way through its files (a full disk, a figure that raises) leaves
    none of them. Checkpoints and task stores call :func:`write_together` directly: a unit must be
    on disk before the next one starts."""
    files: dict = {}
    token = _HELD.set((Path(directory).absolute(), files))
    try:
        yield files
    finally:
        _HELD.reset(token)


def write_together(files: dict, options: Mapping | None = None) -> None:
    """:func:`write_atomic` for several files (``{path: text or bytes}``) at once: all of them are
    replaced or none is. Each goes to a temporary file beside its target first, and only when
    every one is written are they renamed into place; a failure (a full disk on the last report)
    leaves the earlier ones as they were, no temporary file and no directory it created.

    The error names the file asked for; with ``options`` (``{path or directory: "--option"}``) it
    is a :class:`UsageError` naming the option that gave that path as well."""
    staged = []         # (temporary file or None for a stream, target, data for a stream)
    made: list = []     # directories created here, deepest last
    path = None
    try:
        for path, data in files.items():
            path = Path(path)
            if path.is_symlink():
                # write the file the link points to; replacing the link would leave its target stale
                path = Path(os.path.realpath(path))
                if path.is_symlink():       # still a link: a loop, which has no file to write
                    raise OSError(errno.ELOOP, "a loop of symbolic links", str(path))
            if path.exists() and not path.is_file() and not path.is_dir():
                # a device or a pipe (--json /dev/stdout): a stream, written last, in place
                staged.append((None, path, data))
                continue
            missing = [d for d in (path.parent, *path.parent.parents) if not d.exists()]
            path.parent.mkdir(parents=True, exist_ok=True)
            made.extend(reversed(missing))
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{_TMP}")
            staged.append((tmp, path, None))
            os.fchmod(fd, 0o666 & ~_umask())
            with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as f:
                f.write(data)
        # streams first (they cannot be staged, and fail most: a full device, a closed pipe), so that
        # their failure leaves no file renamed; renames last, where nothing is left to fail but them
        for tmp, path, data in staged:
            if tmp is None:
                with open(path, "wb" if isinstance(data, bytes) else "w") as f:
                    f.write(data)
        for tmp, path, data in staged:
            if tmp is not None:
                os.replace(tmp, path)
    except BaseException as e:
        for tmp, _, _ in staged:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
        for d in reversed(made):
            with contextlib.suppress(OSError):
                d.rmdir()   # only if still empty: nothing of anyone else's goes
        if isinstance(e, OSError):
            why = e.strerror or str(e)
            opt = _option_of(path, options or {})
            if opt is not None:
                name, given = opt
                g = Path(given).absolute()
                inner = "" if g == path.absolute() else f" {path.absolute().relative_to(g)}"
                raise UsageError(f"{name} {given}: cannot write{inner}: {why}") from None
            # name the file asked for, not the temporary one (gone by now) nor nothing
            raise OSError(e.errno, why, str(path)) from None
        raise


def _option_of(path, options: Mapping):
    """``(option, path given)`` for ``path``: the option naming it or the directory holding it."""
    if path is None:
        return None
    p = Path(path).absolute()
    for given, name in options.items():
        if given is None:
            continue
        g = Path(given).absolute()
        if g == p or g in p.parents:
            return name, given
    return None


def resolved(opt: str, path) -> Path:
    """``path`` with its links followed; a loop of symbolic links is the user's path, named."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError) as e:     # Python 3.11 raises RuntimeError on a loop
        raise UsageError(f"{opt} {path}: cannot follow its symbolic links ({e})") from None


def writable_place(opt: str, given, directory: Path) -> None:
    """Refuse ``given`` (the option's value) unless the nearest existing ancestor of ``directory``,
    where the output would be created, is a directory flowcert may write in (a read-only disk or
    another user's directory is refused before the work, not after it)."""
    existing = directory
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{opt} {given}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{opt} {given}: cannot write in {existing}")


def check_outputs(files: dict, directories: dict | None = None) -> None:
    """Refuse, before any work, output paths that could only fail or clobber at the end: ``files``
    ({option: path or None}) must be file paths whose directory can be created or written, none a
    directory; no two outputs the same file; no file inside a ``directories`` entry (a checkpoint,
    an output directory), whose contents flowcert owns."""
    seen: dict = {}
    dirs = {opt: resolved(opt, d) for opt, d in (directories or {}).items() if d}
    for opt, d in dirs.items():
        if d.exists() and not d.is_dir():
            raise UsageError(f"{opt} {d}: exists and is not a directory")
    for opt, path in files.items():
        if path is None:
            continue
        if not str(path).strip():
            raise UsageError(f"{opt}: expected a file path, got an empty string")
        p = resolved(opt, path)
        if p.is_dir():
            raise UsageError(f"{opt} {path}: is a directory; expected a file path")
        writable_place(opt, path, p.parent)
        if p in seen:
            raise UsageError(f"{opt} {path}: the same file as {seen[p]}; give each report its own path")
        for dopt, d in dirs.items():
            if d == p or d in p.parents:
                raise UsageError(f"{opt} {path}: inside {dopt} {d}, which flowcert manages; write it elsewhere")
        seen[p] = opt


def user_cache_dir() -> Path:
    """flowcert's cache directory: ``$XDG_CACHE_HOME/flowcert``, else ``~/.cache/flowcert``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "flowcert"


def finite_json(obj):
    """``obj`` with every NaN or infinity replaced by None: no NaN ever reaches a report."""
    import numpy as np
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return finite_json(obj.tolist())
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def csv_number(x) -> str:
    """A number for a CSV cell: its shortest exact repr, or an empty cell (missing) where it is
    not finite -- a diverged run's loss -- rather than ``nan``, which no report may show."""
    v = float(x)
    return repr(v) if math.isfinite(v) else ""


def json_text(obj) -> str:
    """``obj`` as report JSON: indented, NaN and infinity as null."""
    return json.dumps(finite_json(obj), indent=2, sort_keys=False, default=_jsonable, allow_nan=False) + "\n"


def write_json(path, obj) -> None:
    write_atomic(path, json_text(obj))


class Checkpoint:
    """Finished units of long work, one JSON file each under ``directory``, written atomically.

    A run with ``resume=True`` keeps what an earlier (possibly killed) run with the same
    ``identity`` stored; a run with another identity there is refused rather than mixed in.
    """

    option = "--checkpoint"

    def __init__(self, directory, identity: dict, resume: bool):
        self.dir = Path(directory)
        meta = self.dir / "run.json"
        ident = json.loads(json.dumps(finite_json(identity), default=_jsonable))
        if meta.exists():
            old = self._read(meta)
            if not resume:
                raise UsageError(f"--checkpoint {directory}: holds an earlier run; pass --resume to "
                                 "continue it, or choose an empty directory")
            if old != ident:
                raise UsageError(f"--checkpoint {directory}: holds a run with other settings "
                                 f"({_diff(old, ident)}); --resume needs the same command")
        elif self.dir.exists() and (not self.dir.is_dir() or any(self.dir.iterdir())):
            # never write into (or clean up) a directory of the user's
            raise UsageError(f"--checkpoint {directory}: not a flowcert checkpoint (no run.json) and not "
                             "empty; choose a new or empty directory")
        self.discard_partial_writes()
        self._write(meta, ident)

    def discard_partial_writes(self) -> None:
        """Remove the temporary files of writes that a killed run left unfinished (``write_atomic``
        marks them ``.NAME.flowcert-partial-*``; nothing else is touched); finished files are
        never partial."""
        if self.dir.is_dir():
            for p in self.dir.glob(f".*.json{_TMP}*"):
                p.unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
        return self.dir / f"{safe}.json"

    def _read(self, path: Path):
        """A stored file's JSON; a damaged one (a disk error, a hand edit) is one line naming it:
        deleting that file makes a resumed run compute its unit again."""
        try:
            return json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            fix = ("the run's settings are lost: start again in a new directory" if path.name == "run.json" else
                   "delete it to compute that part again")
            raise UsageError(f"{self.option} {self.dir}: {path.name} is damaged ({type(e).__name__}); {fix}") from None

    def _write(self, path: Path, value) -> None:
        write_together({path: json_text(value)}, {self.dir: self.option})

    def get(self, key: str):
        p = self._path(key)
        return self._read(p) if p.exists() else None

    def put(self, key: str, value) -> None:
        self._write(self._path(key), value)


class _NoCheckpoint:
    def get(self, key):
        return None

    def put(self, key, value):
        pass


def _diff(a: dict, b: dict) -> str:
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return ", ".join(f"{k}: {a.get(k)!r} then {b.get(k)!r}" for k in keys[:3])


_CHECKPOINT: contextvars.ContextVar = contextvars.ContextVar("flowcert_checkpoint", default=_NoCheckpoint())


def checkpoint():
    """The store of the running command's ``--checkpoint`` (a no-op store without one).

    An experiment saves each finished unit with ``checkpoint().put(key, result)`` and, before
    computing a unit, looks it up with ``checkpoint().get(key)``; results must be JSON-able and
    deterministic so that a resumed run equals an uninterrupted one.
    """
    return _CHECKPOINT.get()


@contextlib.contextmanager
def checkpointing(store):
    token = _CHECKPOINT.set(store)
    try:
        yield store
    finally:
        _CHECKPOINT.reset(token)


def _jsonable(x):
    import numpy as np
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    return str(x)


def set_errors(check):
    """A ``validate`` hook whose messages name ``--set``, since that is where the values came from."""
    def validate(p):
        try:
            check(p)
        except UsageError as e:
            raise UsageError(f"--set {e}") from None
    return validate


def new_figure(size):
    """A matplotlib Figure on an Agg canvas: no pyplot, so no global backend or figure registry."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png(fig) -> bytes:
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    return buf.getvalue()


EXPERIMENTS: dict[str, Experiment] = {}


def register_experiment(exp: Experiment) -> Experiment:
    if exp.name in EXPERIMENTS:
        raise ValueError(f"experiment {exp.name!r} registered twice")
    check_keys(exp)
    EXPERIMENTS[exp.name] = exp
    return exp
