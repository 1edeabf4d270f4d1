"""Prune a cosmic-ray session before it runs: drop mutants of annotations, optionally keep a sample.

    python mutation/prune.py SESSION.sqlite [--exclude MODULE ...] [--sample N] [--seed S]

Annotations: every module of theory/ and numerics/ starts with ``from __future__ import
annotations``, so an annotation is never evaluated and a mutant inside one cannot change behaviour
(mutmut does not generate them at all). They are counted and removed, never run.

Exclude: modules scored by a whole run of their own (mutation/README.md) are left out of a sample.

Sample: ``--sample N`` keeps N of the remaining mutants, drawn uniformly without replacement from
a seeded generator, so the same session and seed keep the same mutants. The killed fraction of the
sample estimates the module's score (mutation/README.md, "Sampled modules").
"""
from __future__ import annotations

import argparse
import ast
import random
import sqlite3
import sys
from pathlib import Path


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(row, column) start and end of every annotation, columns in characters as cosmic-ray counts them."""
    lines = source.splitlines()

    def char_col(row: int, byte_col: int) -> int:
        # ast counts columns in UTF-8 bytes, cosmic-ray (parso) in characters
        return len(lines[row - 1].encode("utf-8")[:byte_col].decode("utf-8"))

    spans = []
    for node in ast.walk(ast.parse(source)):
        found = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            found.append(node.returns)
        elif isinstance(node, ast.arg) and node.annotation is not None:
            found.append(node.annotation)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        for a in found:
            spans.append(((a.lineno, char_col(a.lineno, a.col_offset)),
                          (a.end_lineno, char_col(a.end_lineno, a.end_col_offset))))
    return spans


def in_annotation(pos: tuple[int, int], spans) -> bool:
    return any(start <= pos < end for start, end in spans)


def _delete(db: sqlite3.Connection, jobs: list[str]) -> None:
    for table in ("work_results", "mutation_specs", "work_items"):
        db.executemany(f"DELETE FROM {table} WHERE job_id = ?", [(j,) for j in jobs])


def prune(session: Path, sample: int | None = None, seed: int = 0, exclude=()) -> dict:
    db = sqlite3.connect(session)
    rows = db.execute("SELECT job_id, module_path, start_pos_row, start_pos_col FROM mutation_specs "
                      "ORDER BY module_path, start_pos_row, start_pos_col, operator_name, occurrence").fetchall()
    if not rows:
        raise SystemExit(f"{session}: no mutants (was `cosmic-ray init` run?)")
    unknown = set(exclude) - {r[1] for r in rows}
    if unknown:
        raise SystemExit(f"--exclude: no mutants of {sorted(unknown)} in {session}")
    excluded = [r[0] for r in rows if r[1] in exclude]
    _delete(db, excluded)
    rows = [r for r in rows if r[1] not in exclude]
    spans = {m: annotation_spans(Path(m).read_text(encoding="utf-8")) for m in {r[1] for r in rows}}
    annotated = [j for j, m, row, col in rows if in_annotation((row, col), spans[m])]
    _delete(db, annotated)
    skip = set(annotated)
    rest = [j for j, *_ in rows if j not in skip]
    dropped = []
    if sample is not None:
        if not 1 <= sample <= len(rest):
            raise SystemExit(f"--sample: expected 1..{len(rest)} (the mutants outside annotations), got {sample}")
        kept = set(random.Random(seed).sample(rest, sample))
        dropped = [j for j in rest if j not in kept]
        _delete(db, dropped)
    db.commit()
    return {"excluded": len(excluded), "mutants": len(rows), "annotations": len(annotated), "population": len(rest),
            "kept": len(rest) - len(dropped)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("session", type=Path, help="a session made by `cosmic-ray init`")
    p.add_argument("--sample", type=int, help="keep this many mutants outside annotations, drawn at random")
    p.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    p.add_argument("--exclude", nargs="+", default=[], metavar="MODULE",
                   help="leave out these modules' mutants (paths as in the session, e.g. numerics/_batch.py)")
    a = p.parse_args(argv)
    if not a.session.is_file():
        p.error(f"session: no such file {a.session}")
    r = prune(a.session, a.sample, a.seed, a.exclude)
    print(f"{a.session}: {r['excluded']} mutants of excluded modules removed; of the other {r['mutants']}, "
          f"{r['annotations']} in annotations removed, {r['kept']} of {r['population']} kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
