"""The mutation-testing scripts (mutation/): which mutants are annotations, a seeded sample, the score's
interval; on small sessions built here with cosmic-ray's schema, without cosmic-ray."""
from __future__ import annotations

import argparse
import importlib.util
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest

MUTATION = Path(__file__).resolve().parent.parent / "mutation"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_mutation_{name}", MUTATION / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(MUTATION))
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(MUTATION))
    return mod


prune, score = _load("prune"), _load("score")

SOURCE = '''from __future__ import annotations
x: int | None = 1
def f(a: list[int], b=2, *c: float, d: "é" = 3, **e: dict) -> tuple[int, int]:
    return a[0] + b, d
'''


def test_annotation_spans_cover_annotations_only():
    spans = prune.annotation_spans(SOURCE)
    lines = SOURCE.splitlines()

    def text(span):
        (r0, c0), (r1, c1) = span
        assert r0 == r1
        return lines[r0 - 1][c0:c1]

    assert sorted(text(s) for s in spans) == sorted(['int | None', 'list[int]', 'float', '"é"', 'dict',
                                                     'tuple[int, int]'])
    # columns in characters: after the non-ASCII annotation, `dict` is found where a character count puts it
    row = 3
    col = lines[row - 1].index("dict")
    assert prune.in_annotation((row, col), spans)
    assert not prune.in_annotation((row, lines[row - 1].index("b=2") + 2), spans)   # the default 2
    assert not prune.in_annotation((4, lines[3].index("+")), spans)


def _session(tmp_path, rows):
    """A session with cosmic-ray's tables: rows of (job, module, row, col[, worker, test])."""
    tmp_path.mkdir(exist_ok=True)
    db = sqlite3.connect(tmp_path / "s.sqlite")
    db.executescript("""
        CREATE TABLE work_items (job_id VARCHAR NOT NULL PRIMARY KEY);
        CREATE TABLE mutation_specs (module_path VARCHAR, operator_name VARCHAR, operator_args JSON,
            occurrence INTEGER, start_pos_row INTEGER, start_pos_col INTEGER, end_pos_row INTEGER,
            end_pos_col INTEGER, definition_name VARCHAR, job_id VARCHAR NOT NULL PRIMARY KEY);
        CREATE TABLE work_results (worker_outcome VARCHAR(9), output TEXT, test_outcome VARCHAR(11),
            diff TEXT, job_id VARCHAR NOT NULL PRIMARY KEY);""")
    for job, module, row, col, *outcome in rows:
        db.execute("INSERT INTO work_items VALUES (?)", (job,))
        db.execute("INSERT INTO mutation_specs VALUES (?, 'core/Op', '{}', 0, ?, ?, ?, ?, NULL, ?)",
                   (module, row, col, row, col + 1, job))
        if outcome:
            db.execute("INSERT INTO work_results VALUES (?, '', ?, '', ?)", (*outcome, job))
    db.commit()
    return tmp_path / "s.sqlite"


def _jobs(path):
    return sorted(r[0] for r in sqlite3.connect(path).execute("SELECT job_id FROM work_items"))


def test_prune_drops_annotations_excludes_modules_and_samples_by_seed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text(SOURCE)
    (tmp_path / "n.py").write_text("y = 1 + 2\n")
    code = [(f"c{i}", "m.py", 4, 11) for i in range(40)]            # the `+` of line 4
    rows = code + [("a0", "m.py", 2, 3), ("a1", "m.py", 3, 9), ("x0", "n.py", 1, 6)]
    s = _session(tmp_path, rows)
    r = prune.prune(s, sample=10, seed=7, exclude=["n.py"])
    assert r == {"excluded": 1, "mutants": 42, "annotations": 2, "population": 40, "kept": 10}
    kept = _jobs(s)
    assert len(kept) == 10 and set(kept) <= {j for j, *_ in code}
    again = _session(tmp_path / "b", rows)
    prune.prune(again, sample=10, seed=7, exclude=["n.py"])
    assert _jobs(again) == kept                                    # the same seed keeps the same mutants
    other = _session(tmp_path / "c", rows)
    prune.prune(other, sample=10, seed=8, exclude=["n.py"])
    assert _jobs(other) != kept
    with pytest.raises(SystemExit, match="--sample: expected 1..41"):   # n.py's mutant is in without --exclude
        prune.prune(_session(tmp_path / "d", rows), sample=42)
    with pytest.raises(SystemExit, match="--exclude: no mutants of"):
        prune.prune(_session(tmp_path / "e", rows), exclude=["z.py"])


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (9, 10), (10, 10), (180, 200), (57, 66)])
def test_wilson_interval_solves_the_score_equation(k, n):
    """The interval's ends are the p where the observed fraction is z standard errors away:
    (k/n - p)^2 = z^2 p (1 - p) / n, solved here as a quadratic by numpy."""
    lo, hi = score.wilson(k, n)
    z2, ph = score.Z95 ** 2, k / n
    roots = np.roots([1 + z2 / n, -(2 * ph + z2 / n), ph * ph])   # the same equation, expanded in p
    assert np.allclose(sorted(roots.real), [lo, hi], rtol=0, atol=1e-12)
    assert lo <= ph <= hi and (k > 0 or lo == 0) and (k < n or hi == 1)


def test_score_counts_outcomes_by_module(tmp_path):
    s = _session(tmp_path, [("a", "m.py", 1, 0, "NORMAL", "KILLED"), ("b", "m.py", 1, 0, "NORMAL", "SURVIVED"),
                            ("c", "n.py", 1, 0, "NORMAL", "KILLED"), ("d", "n.py", 1, 0, "EXCEPTION", "KILLED"),
                            ("e", "n.py", 1, 0, "NORMAL", "INCOMPETENT"), ("f", "n.py", 1, 0)])
    per = score.outcomes(s)
    assert dict(per["m.py"]) == {"killed": 1, "survived": 1}
    assert dict(per["n.py"]) == {"killed": 1, "error": 2, "pending": 1}


def test_finish_takes_what_no_session_ran(tmp_path):
    finish = _load("finish")
    # one sample split between two clones: a mutant is pending only if neither ran it
    a = _session(tmp_path / "a", [("1", "m.py", 1, 0, "NORMAL", "KILLED"), ("2", "n.py", 1, 0),
                                  ("3", "p.py", 1, 0)])
    b = _session(tmp_path / "b", [("1", "m.py", 1, 0), ("2", "n.py", 1, 0, "NORMAL", "SURVIVED"),
                                  ("4", "q.py", 1, 0, "EXCEPTION", "")])
    assert finish.pending([a, b]) == [("p.py", "core/Op", 0)]
    assert finish.pending([a]) == [("n.py", "core/Op", 0), ("p.py", "core/Op", 0)]
    assert finish._part("1/3") == (1, 3)
    for bad in ("3/3", "x/2", "1"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected"):
            finish._part(bad)
