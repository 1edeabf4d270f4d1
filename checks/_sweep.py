"""Sweeps: many independent, deterministic tasks, run on any :class:`~flowcert.checks._parallel.Engine`,
saved as they finish, then aggregated.

A sweep is like an :class:`~flowcert.checks._experiment.Experiment` (defaults, ``--set``/``--config``
validated into one-line errors) whose work is a list of :class:`Task` s. Each task is a pure
function of its keyword arguments (seeds included: a sweep derives them from its seed and the
task's parameters, never from a shared generator or from the order tasks run in), so a task
computes the same on every engine and a re-run may reuse a result saved by an earlier run.

Results are saved one file per task under ``OUT/tasks/`` (atomically, as each finishes, in the
process that runs the sweep); a re-run of the same command with the same ``--out`` skips the saved
tasks, so an interrupted sweep resumes where it stopped. ``aggregate`` then sees every task's
result in the sweep's own order and writes the summary and figures.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ._experiment import (LIFT, Checkpoint, Experiment, UsageError, _diff, _jsonable, beyond, check_keys, finite_json,
                          write_atomic, write_json)


@dataclass(frozen=True)
class Task:
    """``fn(**kwargs)``: a module-level function (workers import it by name) returning JSON-able
    data. ``key`` names the task's file in the store (unique in a sweep); ``cost`` only orders
    the work (long tasks first)."""

    key: str
    fn: Callable
    kwargs: Mapping[str, Any]
    cost: float = 1.0


@dataclass(frozen=True)
class Sweep:
    """``tasks(params)`` lists the work; ``aggregate(params, [(task, result), ...], out)`` writes the
    files under ``out`` and returns the JSON-able summary (with ``summary``: lines to print).

    ``identity(params)``: what a saved task result depends on beyond its own key (default: every
    parameter); a store holding results of another identity is refused rather than mixed in.
    ``requires()``: raises :class:`UsageError` when the sweep cannot run here (missing module).
    """

    name: str
    paper: str
    description: str
    defaults: Mapping[str, Any]
    tasks: Callable[[dict], list[Task]]
    aggregate: Callable[[dict, list, Path], dict]
    choices: Mapping[str, tuple] = field(default_factory=dict)
    validate: Callable[[dict], None] | None = None
    identity: Callable[[dict], dict] | None = None
    requires: Callable[[], None] | None = None
    keys: Mapping[str, str] = field(default_factory=dict)
    figure: str = ""
    limits: str = ""
    renamed: Mapping[str, str] = field(default_factory=dict)

    # the same defaults + overrides + validation + help as an experiment
    params = Experiment.params
    key_lines = Experiment.key_lines
    help = Experiment.help
    command = "sweep"


SWEEPS: dict[str, Sweep] = {}

#: the most tasks a sweep lists (each is a file in OUT/tasks and a line of the plan held in memory)
MAX_TASKS = 10 ** 6


def check_tasks(n: int, what: str) -> None:
    """Refuse, before the task list is built, a sweep of more than :data:`MAX_TASKS` tasks."""
    if beyond(n, MAX_TASKS):
        raise UsageError(f"{what} give {n:.3g} tasks; at most {MAX_TASKS:.0e}{LIFT}")


def register_sweep(sweep: Sweep) -> Sweep:
    if sweep.name in SWEEPS:
        raise ValueError(f"sweep {sweep.name!r} registered twice")
    check_keys(sweep)
    SWEEPS[sweep.name] = sweep
    return sweep


class TaskStore(Checkpoint):
    """One JSON file per finished task under ``directory`` (atomic writes), with ``run.json``
    recording the sweep's identity. Reopening a store of the same identity continues it."""

    def __init__(self, directory, identity: dict, option: str = "--out"):
        self.dir = Path(directory)
        self.option = option
        meta = self.dir / "run.json"
        ident = normalise(identity)
        if meta.exists():
            try:
                old = json.loads(meta.read_text())
            except ValueError:
                old = None
            if old != ident:
                what = _diff(old, ident) if isinstance(old, dict) else "unreadable run.json"
                raise UsageError(f"{option}: {self.dir} holds tasks of a sweep with other settings "
                                 f"({what}); choose another {option} or delete {self.dir}")
            self.discard_partial_writes()
        elif self.dir.exists() and any(self.dir.iterdir()):
            raise UsageError(f"{option}: {self.dir} is not a flowcert task store (no run.json)")
        else:
            self._write(meta, ident)


def normalise(obj):
    """``obj`` as a JSON round trip gives it back: what a resumed run reads from the store."""
    return json.loads(json.dumps(finite_json(obj), default=_jsonable, allow_nan=False))


def run_sweep(sweep: Sweep, params: dict, out: Path, engine, progress: Callable | None = None,
              option: str = "--out") -> dict:
    """Run ``sweep`` on ``engine`` (entered by the caller); write ``out/NAME.json`` and return it.

    Everything but the ``timing`` object is the same on every engine and for a resumed run.
    """
    out = Path(out)
    t0 = time.perf_counter()
    tasks = sweep.tasks(params)
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise ValueError(f"sweep {sweep.name}: task keys are not unique")
    ident = {"sweep": sweep.name, **(sweep.identity(params) if sweep.identity else params)}
    store = TaskStore(out / "tasks", ident, option)
    results: list = [store.get(k) for k in keys]
    todo = [i for i, r in enumerate(results) if r is None]
    reused = len(tasks) - len(todo)
    if progress:
        progress(reused, len(tasks))
    calls = [((tasks[i].fn,), dict(tasks[i].kwargs)) for i in todo]
    done = reused
    for j, r in engine.imap_unordered(_apply, calls, [tasks[i].cost for i in todo],
                                      [f"task {tasks[i].key}" for i in todo]):
        i = todo[j]
        r = normalise(r)
        store.put(keys[i], r)
        results[i] = r
        done += 1
        if progress:
            progress(done, len(tasks))
    t1 = time.perf_counter()
    agg = sweep.aggregate(params, list(zip(tasks, results)), out)
    result = {"sweep": sweep.name, "paper": sweep.paper, "params": params, "tasks": len(tasks), **agg,
              "timing": {"seconds": time.perf_counter() - t0, "tasks_seconds": t1 - t0,
                         "engine": engine.describe(), "tasks_computed": len(todo),
                         "tasks_reused": reused}}
    write_json(out / f"{sweep.name}.json", result)
    return result


def _apply(fn, **kwargs):
    return fn(**kwargs)


def save_npy(path: Path, a) -> None:
    """An array as a ``.npy`` file, written atomically."""
    import io

    import numpy as np
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    write_atomic(path, buf.getvalue())
