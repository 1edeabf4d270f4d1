"""Experiments: a paper's parameters as defaults, overridable, and the code that reproduces them."""
from __future__ import annotations

import ast
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping


class UsageError(ValueError):
    """Bad input from the user: the CLI prints it on one line and exits with status 2."""


@dataclass(frozen=True)
class Experiment:
    """``run(params, out, progress) -> dict`` writes its files under ``out`` and returns the
    JSON-able results (numbers, the paper's reported values beside them, file names).

    ``defaults`` are the paper's parameters; ``choices`` restricts string keys.
    """

    name: str
    paper: str
    description: str
    defaults: Mapping[str, Any]
    run: Callable[[dict, Path, Callable], dict]
    choices: Mapping[str, tuple] = field(default_factory=dict)
    validate: Callable[[dict], None] | None = None

    def params(self, overrides: Mapping[str, Any] | None = None) -> dict:
        p = dict(self.defaults)
        for k, v in (overrides or {}).items():
            if k not in p:
                raise UsageError(f"--set {k}: unknown key for {self.name}; expected one of "
                                 f"{', '.join(sorted(p))}")
            p[k] = coerce(k, v, p[k])
            if k in self.choices and p[k] not in self.choices[k]:
                raise UsageError(f"--set {k}: expected one of {', '.join(map(str, self.choices[k]))}, "
                                 f"got {p[k]!r}")
        if self.validate is not None:
            self.validate(p)
        return p


def coerce(key: str, value, default):
    """Read a ``--set`` value as the type of the paper's default."""
    if not isinstance(value, str):
        return value
    if isinstance(default, str):
        return value
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise UsageError(f"--set {key}={value}: expected a value like {default!r}") from None
    if isinstance(default, bool):
        ok = isinstance(parsed, bool)
    elif isinstance(default, int):
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
        raise UsageError(f"--set {key}={value}: expected a {type(default).__name__} like {default!r}")
    return parsed


def parse_sets(items) -> dict:
    out = {}
    for item in items or ():
        if "=" not in item:
            raise UsageError(f"--set {item}: expected KEY=VALUE")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def write_atomic(path: Path | str, data: str | bytes) -> None:
    """Write a file so that a reader never sees half of it (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, mode) as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(x):
    import numpy as np
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    return str(x)


EXPERIMENTS: dict[str, Experiment] = {}


def register_experiment(exp: Experiment) -> Experiment:
    if exp.name in EXPERIMENTS:
        raise ValueError(f"experiment {exp.name!r} registered twice")
    EXPERIMENTS[exp.name] = exp
    return exp
