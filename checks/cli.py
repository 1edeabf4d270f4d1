"""``flowcert``: list, verify, latex, reproduce, sweep, and the commands papers add (``Paper.commands``).
A thin layer over the runner; it names no paper.

Exit status: 0 everything asked holds (or is certified); 1 a claim fails (or a bound is disproved);
2 bad usage or input (one line on stderr); 3 undecided at the precision used (uncertified: not
false), with nothing failing; 70 an unexpected error (a bug); 130 interrupted.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import gc
import os
import re
import sys
import time
import warnings
from pathlib import Path

from flowcert import __version__

from ._args import Parser as _Parser, nonneg_int, positive_int
from ._experiment import UsageError, json_text, parse_sets, write_atomic, write_together
from ._parallel import add_engine_options, engine_from_args

__all__ = ["build_parser", "main"]

_show_warning = warnings.showwarning
#: exit status by verdict: holds (or certified), fails (or disproved), undecided at the precision used
_EXIT = {True: 0, False: 1, None: 3}


_EXIT_TEXT = """exit status:
    0  everything asked holds (claims pass or are certified; a bound is certified > 0)
    1  a claim fails, or a bound is disproved
    2  bad usage or input (one line on stderr)
    3  undecided at the precision used (uncertified: not shown, which is not false); nothing fails
   70  an unexpected error: a bug in flowcert (one line; --debug shows the traceback)
  130  interrupted (what finished is said, and saved with --checkpoint)"""


_MARGIN_TEXT = """worst margin: how far the closest input was from failing, as a fraction of what the check
allows -- its tolerance (1: no error, 0: error at the tolerance) or its threshold (a loss below
0.02 at 0.01: 0.5); negative exactly when the claim fails; 'exact' for a symbolic proof."""


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = _Parser(prog="flowcert", description="Verify convergence theory of neural-network training.",
                formatter_class=fmt, epilog_fn=lambda: _papers_text() + "\n\n" + _EXIT_TEXT)
    p.add_argument("--version", action="version", version=f"flowcert {__version__}")
    p.add_argument("--no-cache", action="store_true", help=_NO_CACHE_HELP)
    p.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error (exit 70)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    s = sub.add_parser("list", help="list the registered claims", formatter_class=fmt, epilog_fn=_papers_text)
    s.add_argument("paper", nargs="?", help="only this paper's claims")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("verify", help="check claims (default: every claim, quick profile)", formatter_class=fmt,
                       epilog_fn=lambda: _remembered_text("claims", ("claims",), _claims_text) + "\n\n" + _MARGIN_TEXT + "\n\n" + _EXIT_TEXT)
    s.add_argument("targets", nargs="*", metavar="PAPER|CLAIM",
                   help="paper ids, claim ids or id prefixes (e.g. min2023.thm2); default: every claim")
    s.add_argument("--profile", default="quick", choices=["quick", "standard", "deep"],
                   help="examples per claim: quick 8, standard 50, deep 300 (costly claims use fewer)")
    s.add_argument("--seed", type=nonneg_int, default=0, help="seed of the draws (changes nothing else)")
    s.add_argument("--dps", type=positive_int, default=30, help="digits of the high-precision claims (default 30)")
    s.add_argument("--claim-timeout", type=float, default=600.0, metavar="SECONDS",
                   help="stop a claim after this many seconds and report it undecided (default 600; 0: no limit)")
    s.add_argument("--json", dest="json_path", metavar="PATH", help="JSON report")
    s.add_argument("--junit", dest="junit_path", metavar="PATH", help="JUnit XML report for CI systems")
    s.add_argument("--markdown", dest="markdown_path", metavar="PATH",
                   help="Markdown report: claim table, each claim's LaTeX, figures")
    s.add_argument("--figures", metavar="DIR", help="PNG figures (e.g. from reproduce) for --markdown")
    s.add_argument("--replay", metavar="JSON", help="check one claim on a printed counterexample")
    s.add_argument("--checkpoint", metavar="DIR", help="save each finished claim here")
    s.add_argument("--resume", action="store_true", help="continue the run saved in --checkpoint")
    _quiet(s)
    add_engine_options(s, "the claims", default="auto")

    s = sub.add_parser("latex", help="a standalone LaTeX document of every derived formula", formatter_class=fmt,
                       epilog_fn=_papers_text)
    s.add_argument("papers", nargs="*", metavar="PAPER", help="these papers' formulas (default: every paper)")
    s.add_argument("--claim", action="append", default=[], metavar="ID",
                   help="a snippet of these claims (ids or prefixes, as verify takes them) to paste into a paper; "
                        "it needs only amsmath and amssymb")
    s.add_argument("-o", "--output", metavar="FILE.tex")
    s.add_argument("--roundtrip", action="store_true",
                   help="parse every formula back and compare it, relation included, with the SymPy object it was "
                        "printed from; exit 1 if any differs or has no source")
    s.add_argument("--json", action="store_true", help="with --roundtrip: the counts and every non-equal formula as JSON")
    _quiet(s)

    s = sub.add_parser("reproduce", help="reproduce a paper's experiment", formatter_class=fmt, add_help=False,
                       epilog_fn=lambda: _remembered_text("experiments", ("experiments",),
                                                         lambda: _runs_text("experiments")))
    s.add_argument("-h", "--help", action="store_true", help="this help; with NAME, that experiment's keys")
    s.add_argument("name", nargs="?", metavar="NAME", help="the experiment (listed below)")
    s.add_argument("--out", default="out", metavar="DIR", help="where the files go (default out/)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter (flowcert reproduce NAME --help lists the keys)")
    s.add_argument("--config", metavar="FILE.toml", help="parameters, as repeated --set (which win)")
    s.add_argument("--json", dest="json_path", metavar="PATH", help="also write the result JSON here")
    s.add_argument("--checkpoint", metavar="DIR", help="save each finished unit of work here")
    s.add_argument("--resume", action="store_true", help="continue the run saved in --checkpoint")
    _quiet(s)
    s.set_defaults(parser=s)

    s = sub.add_parser("sweep", help="a sweep of many independent tasks, on local processes or a dask cluster",
                       formatter_class=fmt, add_help=False, epilog_fn=lambda: _remembered_text("sweeps", ("sweeps",),
                                                                                 lambda: _runs_text("sweeps")))
    s.add_argument("-h", "--help", action="store_true", help="this help; with NAME, that sweep's keys")
    s.add_argument("name", nargs="?", metavar="NAME", help="the sweep (listed below)")
    s.add_argument("--out", metavar="DIR", help="results, figure and finished tasks (default out/NAME); "
                   "running the same command again resumes from the finished tasks")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter (flowcert sweep NAME --help lists the keys)")
    s.add_argument("--config", metavar="FILE.toml", help="parameters, as repeated --set (which win)")
    s.add_argument("--json", dest="json_path", metavar="PATH", help="also write the result JSON here")
    _quiet(s)
    add_engine_options(s, "the tasks")
    s.set_defaults(parser=s)

    from . import _laws
    s = sub.add_parser("laws", help="every independent conservation law of a model's gradient flow, and a "
                       "completeness proof", formatter_class=fmt, epilog_fn=_laws._epilog)
    _laws.arguments(s)

    for c in _plugin_commands().values():
        c.arguments(sub.add_parser(c.name, help=c.help, description=c.help, formatter_class=fmt))
    s = sub.add_parser("cache", help="where derivations are kept; --clear removes them", formatter_class=fmt,
                       description=_CACHE_TEXT)
    s.add_argument("--clear", action="store_true", help="remove every entry (of every version)")
    for s in sub.choices.values():
        if s.prog.split()[-1] != "cache":
            # SUPPRESS: a subcommand's default must not overwrite `flowcert --no-cache COMMAND`
            s.add_argument("--no-cache", action="store_true", default=argparse.SUPPRESS, help=_NO_CACHE_HELP)
    return p


_NO_CACHE_HELP = "derive everything afresh: do not read or write the on-disk cache of derivations"
_CACHE_TEXT = """SymPy derivations (gradients, flows, residuals) are kept on disk, keyed by flowcert's and
SymPy's versions, theory/'s source and the arguments, so that a run derives each once; and each
claim's last time, so that parallel workers take the costliest first. The directory is
$FLOWCERT_CACHE_DIR, else $XDG_CACHE_HOME/flowcert, else ~/.cache/flowcert; FLOWCERT_NO_CACHE=1 or
--no-cache bypasses it."""


def cmd_cache(a) -> int:
    from flowcert.theory import _cache
    root = _cache.cache_dir()
    if a.clear:
        n = _cache.clear()
        for f in [root / _COSTS, *root.glob("listing-*")]:
            with contextlib.suppress(OSError):
                f.unlink()
        print(f"removed {n} entr{'y' if n == 1 else 'ies'} from {root}")
        return 0
    files = list(root.glob("*/*.pickle")) if root.is_dir() else []
    size = sum(f.stat().st_size for f in files)
    here = root / _cache._digest()
    print(f"{root}: {len(files)} entries, {size / 1e6:.1f} MB; "
          f"{len(list(here.glob('*.pickle'))) if here.is_dir() else 0} of this version ({here.name})"
          + ("" if _cache.enabled() else "; disabled (FLOWCERT_NO_CACHE)"))
    return 0


def _quiet(s) -> None:
    s.add_argument("-q", "--quiet", action="store_true",
                   help="no progress on stderr (by default: a bar on a terminal, a line every few seconds elsewhere)")


def _wrap(text: str, indent: int) -> str:
    import textwrap
    return textwrap.fill(text, width=100, initial_indent=" " * indent, subsequent_indent=" " * indent)


def _papers_text() -> str:
    from ._registry import papers
    ps = papers()
    if not ps:
        return "papers: none installed (a paper is a plugin of the flowcert.papers entry-point group)"
    w = max(len(k) for k in ps)
    return "papers:\n" + "\n".join(f"  {k:<{w}}  {p.citation}" for k, p in ps.items())


def _claims_text() -> str:
    """Every paper with its claims grouped by section prefix, e.g. ``min2023.thm2 (4)``."""
    from ._registry import papers, select
    out = ["claims by prefix (pass any of these, a paper id or a whole claim id):"]
    claims = select([])
    for pid in papers():
        groups: dict[str, int] = {}
        for c in claims:
            if c.paper == pid:
                pre = ".".join(c.id.split(".")[:2])
                groups[pre] = groups.get(pre, 0) + 1
        out.append(f"  {pid} ({sum(groups.values())} claims, 'flowcert list {pid}' for each):")
        out.append(_wrap(", ".join(f"{k} ({n})" for k, n in groups.items()), 4))
    return "\n".join(out)


def _runs_text(kind: str) -> str:
    from ._experiment import EXPERIMENTS
    from ._registry import load
    from ._sweep import SWEEPS
    load(None, kind)
    reg = EXPERIMENTS if kind == "experiments" else SWEEPS
    cmd = "reproduce" if kind == "experiments" else "sweep"
    out = [f"{kind} (paper, figure: what it does):"]
    for name in sorted(reg):
        x = reg[name]
        out.append(f"  {name}")
        out.append(_wrap(f"{x.paper}{', ' + x.figure if x.figure else ''}: {x.description}", 6))
    out.append(f"\n'flowcert {cmd} NAME --help' lists NAME's --set keys with their type, default and meaning.")
    return "\n".join(out)


def _plugin_commands() -> dict:
    """The commands papers add (``Paper.commands``), by name; a name flowcert uses is not replaced."""
    from ._registry import papers
    out = {}
    for paper in papers().values():
        for c in paper.commands:
            if c.name not in _BUILTIN and c.name not in out:
                out[c.name] = c
    return out


# ---------------------------------------------------------------------------------------------


def _listing_key(pids, kinds=("claims",)) -> str | None:
    """What a listing depends on: flowcert's version and the source of the framework and of the
    packages of each listed paper's ``kinds`` modules. None when claims, experiments, sweeps or
    papers were registered in this process (a listing of those is never remembered)."""
    import hashlib
    import importlib.util
    from . import _registry as R
    from ._experiment import EXPERIMENTS
    from ._sweep import SWEEPS
    if R.CLAIMS or R._REGISTERED or EXPERIMENTS or SWEEPS:
        return None
    h = hashlib.sha256(f"{__version__}|{sys.version}|{kinds}".encode())
    dirs = {Path(__file__).parent}
    ps = R.papers()
    for pid in pids:
        mods = [m for k in kinds for m in getattr(ps[pid], k)]
        h.update(f"|{pid}|{mods}".encode())
        for mod in mods:
            spec = importlib.util.find_spec(mod)
            if spec is None or not spec.origin:
                return None
            dirs.add(Path(spec.origin).parent)
    for d in sorted(dirs):
        for f in sorted(d.glob("*.py")):
            h.update(str(f).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:24]


def _listing(pid: str | None) -> list[dict]:
    """The claims' ids, papers, provenance, statements: remembered in the cache directory, so that
    ``flowcert list`` need not import every claim module (SymPy, theory/) to print them."""
    from flowcert._cachedir import cache_dir, enabled
    from ._registry import paper, paper_ids, select
    if pid:
        paper(pid)
    key = _listing_key([pid] if pid else paper_ids()) if enabled() else None
    path = cache_dir() / f"listing-{key}.json" if key else None
    if path is not None:
        with contextlib.suppress(OSError, ValueError):
            rows = json.loads(path.read_text())
            if isinstance(rows, list):
                return rows
    rows = [{"id": c.id, "paper": c.paper, "provenance": c.provenance, "statement": c.statement,
             "discrepancy": c.discrepancy} for c in select([pid] if pid else [])]
    if path is not None:
        with contextlib.suppress(OSError):
            write_atomic(path, json.dumps(rows))
    return rows


def _remembered_text(name: str, kinds: tuple, make) -> str:
    """``make()`` (a help text that imports every paper's ``kinds`` modules to list what they
    register), remembered like the claims' listing: ``verify --help`` or ``reproduce --help``
    then costs what ``--help`` does."""
    from flowcert._cachedir import cache_dir, enabled
    from ._registry import paper_ids
    key = _listing_key(paper_ids(), kinds) if enabled() else None
    path = cache_dir() / f"listing-{name}-{key}.txt" if key else None
    if path is not None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            return path.read_text()
    text = make()
    if path is not None:
        with contextlib.suppress(OSError):
            write_atomic(path, text)
    return text


def cmd_list(a) -> int:
    rows = _listing(a.paper)
    if a.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no claims registered (no paper plugin installed?)")
        return 0
    w = max(len(c["id"]) for c in rows)
    for c in rows:
        print(f"{c['id']:<{w}}  [{c['provenance']}]{' (discrepancy)' if c['discrepancy'] else ''}  {c['statement']}")
    return 0


def _fmt(x) -> str:
    if x is None:
        return "-"
    if x == float("inf"):
        return "exact"
    return f"{x:.3g}"


def cmd_verify(a) -> int:
    from ._registry import select
    from ._runner import NonFiniteInput, RunOptions, replay
    try:
        opts = RunOptions(profile=a.profile, seed=a.seed, dps=a.dps, timeout=a.claim_timeout)
    except ValueError as e:
        raise UsageError(f"--{e}".replace("--timeout:", "--claim-timeout:")) from None
    claims = select(a.targets)
    if a.replay is not None:
        if len(claims) != 1:
            raise UsageError("--replay: name exactly one claim")
        try:
            v = replay(claims[0], a.replay, opts)
        except json.JSONDecodeError as e:
            raise UsageError(f"--replay: expected the JSON of a counterexample ({e})") from None
        except NonFiniteInput as e:
            raise UsageError(f"--replay: {e}") from None
        except Exception as e:  # an example of another claim, or hand-edited beyond repair
            raise UsageError(f"--replay: not an input of {claims[0].id} ({type(e).__name__}: {e})") from None
        print(f"{claims[0].id}: holds={v.holds} margin={v.margin:.3g} [{v.precision}] {v.detail}")
        return _EXIT[v.holds]
    if a.figures and not a.markdown_path:
        raise UsageError("--figures: goes with --markdown (the figures are linked from that report)")
    if a.figures and not Path(a.figures).is_dir():
        raise UsageError(f"--figures {a.figures}: no such directory")
    from ._experiment import check_outputs
    check_outputs({"--json": a.json_path, "--junit": a.junit_path, "--markdown": a.markdown_path},
                  {"--checkpoint": a.checkpoint})
    engine = engine_from_args(a, tasks=len(claims))
    store = _checkpoint(a, {"command": "verify", "claims": [c.id for c in claims], "profile": opts.profile,
                            "seed": opts.seed, "dps": opts.dps})
    from ._progress import Progress
    def label(c):
        return c.id + (" (discrepancy)" if c.discrepancy else "")
    w = max(len(label(c)) for c in claims)
    print(f"{'claim':<{w}}  {'status':<11} {'examples':>8} {'worst margin':>13} {'seconds':>8}", flush=True)
    t0 = time.perf_counter()
    finished = [0]
    progress = Progress("verify", "claims", quiet=a.quiet)

    def bar(c, k, total):
        progress(finished[0], len(claims), f"{c.id}: example {k}/{total}")

    def start(c):
        bar(c, 0, "?")

    def done(r):
        finished[0] += 1
        progress.clear()
        print(f"{label(r):<{w}}  {r.status:<11} {r.examples:>8} {_fmt(r.worst_margin):>13} {r.seconds:>8.2f}",
              flush=True)
        if r.status == "fail":
            print(f"    {r.detail}")
            if r.counterexample is not None:
                ce = json.dumps(r.counterexample)
                print(f"    replay: flowcert verify {r.id} --replay '{ce}'")
        elif r.status in ("skipped", "uncertified"):
            print(f"    {r.detail}")

    results = []
    from flowcert.numerics import serial_blas
    try:
        with serial_blas():   # once for the run (and the workers forked in it), not per claim
            _verify_claims(engine, claims, opts, store, results, done, start, bar)
    except KeyboardInterrupt:
        progress.close()
        print(f"\ninterrupted: {len(results)} of {len(claims)} claims finished"
              + (f" (saved in {a.checkpoint}; --resume continues)" if store else ""), file=sys.stderr)
        return 130
    except BaseException:
        progress.close()  # a bar left on the terminal would garble the error line
        raise
    progress.close()
    total = time.perf_counter() - t0
    counts = {s: sum(r.status == s for r in results) for s in ("certified", "pass", "fail", "uncertified", "skipped")}
    print(f"{len(results)} claims: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v)
          + f" in {total:.1f} s (profile {opts.profile}, seed {opts.seed})")
    meta = {"flowcert": __version__, "profile": opts.profile, "seed": opts.seed, "dps": opts.dps}
    _remember_costs(results)
    reports = {}
    if a.json_path:
        reports[a.json_path] = json_text({**meta, "claims": [r.to_json() for r in results], "summary": counts,
                                          "timing": {"total_seconds": total,
                                                     "claims": {r.id: r.seconds for r in results}}})
    if a.junit_path:
        from ._report import junit
        reports[a.junit_path] = junit(results, meta)
    if a.markdown_path:
        from ._report import markdown
        figs = []
        if a.figures:
            base = Path(a.markdown_path).resolve().parent
            figs = [os.path.relpath(p.resolve(), base) for p in sorted(Path(a.figures).rglob("*.png"))]
        tex = {c.id: c.latex_text() for c in claims}
        reports[a.markdown_path] = markdown(results, meta, tex, figs)
    # all the reports or none: a failure writing the last must not leave the first ones new
    write_together(reports, {a.json_path: "--json", a.junit_path: "--junit", a.markdown_path: "--markdown"})
    return 1 if counts["fail"] else 3 if counts["uncertified"] else 0


_COSTS = "claim-seconds.json"


def _known_costs() -> dict:
    """Each claim's seconds in the last run here: workers take the costliest first (the order of
    work only; what each claim computes and the report's order do not depend on it)."""
    from flowcert._cachedir import cache_dir, enabled
    if not enabled():
        return {}
    try:
        costs = json.loads((cache_dir() / _COSTS).read_text())
        return {k: float(v) for k, v in costs.items()} if isinstance(costs, dict) else {}
    except (OSError, ValueError, TypeError):
        return {}


def _remember_costs(results) -> None:
    from flowcert._cachedir import cache_dir, enabled
    if not enabled():
        return
    costs = {**_known_costs(), **{r.id: round(r.seconds, 3) for r in results}}
    try:
        write_atomic(cache_dir() / _COSTS, json.dumps(costs, indent=0, sort_keys=True))
    except OSError:
        pass  # a read-only cache costs balance, never a result


def _before_fork(claims) -> None:
    """Import once, in this process, what the claims' checks import lazily (their papers'
    experiment modules; numba, FLINT, SciPy's integrators): forked workers then share it instead of
    each paying for it (about a second of CPU per worker and module)."""
    from ._registry import papers
    from flowcert.numerics import compile_kernels
    ps = papers()
    for pid in sorted({c.paper for c in claims}):
        if pid in ps:
            ps[pid].load(("experiments", "sweeps"))
    # sympy.physics: what SymPy's simplify imports on its first call (~0.3 s in each worker)
    for name in ("flint", "scipy.integrate", "scipy.linalg", "mpmath", "sympy.physics.units"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    compile_kernels()
    # what is imported now lives as long as the workers: the garbage collector need not walk it
    # again in each of them (and its reference counts stay in the pages the fork shares)
    gc.collect()
    gc.freeze()


def _verify_claims(engine, claims, opts, store, results, done, start, bar) -> None:
    from ._runner import Result, run
    if engine.distributed:
        _verify_parallel(engine, claims, opts, store, results, done, start)
    for c in claims[len(results):]:
        saved = store.get(c.id) if store else None
        if saved is not None:
            r = Result(**saved)
        else:
            start(c)
            r = run([c], opts, on_example=bar)[0]
            if store:
                store.put(c.id, {**r.to_json(), "seconds": r.seconds})
        results.append(r)
        done(r)


def _verify_parallel(engine, claims, opts, store, results, done, start) -> None:
    """``verify --jobs N`` / ``--scheduler``: claims run on workers; results are saved as they
    finish and printed in the claims' order, so the report is the one ``--jobs 1`` gives."""
    from ._parallel import run_in_order, share_groups, verify_claims
    from ._runner import Result
    saved = {i: store.get(c.id) for i, c in enumerate(claims)} if store else {}
    todo = [i for i, c in enumerate(claims) if saved.get(i) is None]
    ready = {i: Result(**v) for i, v in saved.items() if v is not None}

    def emit_ready():
        while len(results) < len(claims) and len(results) in ready:
            results.append(ready.pop(len(results)))
            done(results[-1])

    groups = [[todo[k] for k in g] for g in share_groups([claims[i] for i in todo])]

    def finished(j, rs):
        if store:
            for r in rs:
                store.put(r.id, {**r.to_json(), "seconds": r.seconds})

    def in_order(j, rs):
        for i, r in zip(groups[j], rs):
            ready[i] = r
        emit_ready()

    emit_ready()
    if todo:
        start(claims[todo[0]])
        if engine.scheduler is None:
            _before_fork(claims[i] for i in todo)
        with engine:
            costs = _known_costs()
            run_in_order(engine, verify_claims,
                         [(([claims[i].id for i in g], opts.profile, opts.seed, opts.dps, opts.timeout), {})
                          for g in groups],
                         in_order, finished,
                         priorities=[sum(costs.get(claims[i].id, 1.0) for i in g) for g in groups],
                         names=[", ".join(claims[i].id for i in g) for g in groups])
    emit_ready()


def cmd_latex(a) -> int:
    from .export import document, snippet
    from ._registry import paper, paper_ids
    for p in a.papers:
        paper(p)
    if a.claim and a.papers:
        raise UsageError("latex: give papers (a document) or --claim IDs (a snippet), not both")
    if a.json and not a.roundtrip:
        raise UsageError("latex: --json goes with --roundtrip")
    if a.output is not None:
        from ._experiment import check_outputs
        check_outputs({"-o": a.output})
    if a.roundtrip:
        return _roundtrip(a)
    if a.claim:
        from ._registry import select
        try:
            claims = select(a.claim)
        except UsageError as e:
            raise UsageError(f"--claim: {e}") from None
        tex = snippet(claims)
    else:
        tex = document(a.papers or paper_ids())
    if a.output:
        write_together({a.output: tex}, {a.output: "-o"})
    else:
        sys.stdout.write(tex)
    return 0


def _roundtrip(a) -> int:
    from ._progress import ticking
    from ._registry import paper_ids
    from .export import VERDICTS, roundtrip
    t0 = time.perf_counter()
    with ticking("latex --roundtrip", quiet=a.quiet):
        rows = roundtrip(a.papers or paper_ids())
    counts = {v: sum(r[1] == v for r in rows) for v in VERDICTS}
    bad = counts["differs"] + counts["no_source"]
    if a.json:
        listed = [{"paper": f.paper, "claim": f.tag, "verdict": v, "latex": f.latex, "note": note}
                  for f, v, note in rows if v != "equal"]
        print(json.dumps({"formulas": len(rows), **counts, "seconds": round(time.perf_counter() - t0, 2),
                          "not_equal": listed}, indent=1))
        return 1 if bad else 0
    for f, verdict, note in rows:
        if verdict != "equal":
            print(f"{verdict:<10} {f.paper:<10} {' '.join(f.latex.split())[:70]:<70} {note}")
    print(f"{len(rows)} formulas: " + ", ".join(f"{n} {v}" for v, n in counts.items())
          + f" ({time.perf_counter() - t0:.1f} s)")
    return 1 if bad else 0


def cmd_reproduce(a) -> int:
    from ._experiment import EXPERIMENTS
    exp = _chosen(a, "experiments", EXPERIMENTS, "experiment")
    if exp is None:
        return 0
    params = _params(a, exp)
    if a.checkpoint and not exp.checkpoints:
        raise UsageError(f"--checkpoint: {exp.name} saves no partial work (it runs as one unit); run it "
                         "without --checkpoint")
    from ._experiment import check_outputs
    _check_out_dir(a.out)
    check_outputs({"--json": a.json_path}, {"--checkpoint": a.checkpoint})
    out = Path(a.out)

    from flowcert.numerics import serial_blas

    from ._experiment import checkpointing
    from ._progress import Progress
    store = _checkpoint(a, {"command": "reproduce", "experiment": exp.name, "params": params})
    t0 = time.perf_counter()
    from ._experiment import collected, json_text, write_together
    try:
        with Progress(exp.name, quiet=a.quiet) as progress, serial_blas(), collected(out) as files, \
                checkpointing(store) if store else contextlib.nullcontext():
            result = exp.run(params, out, progress)
    except KeyboardInterrupt:
        print(f"\n{exp.name}: interrupted" + (f"; finished parts saved in {a.checkpoint} (--resume continues)"
                                            if store else ""), file=sys.stderr)
        return 130
    result, times = _timing_apart(result)
    result = {"experiment": exp.name, "paper": exp.paper, "params": params, **result,
              "timing": {"seconds": time.perf_counter() - t0, **times}}
    files[out / f"{exp.name}.json"] = json_text(result)
    if a.json_path:
        files[a.json_path] = json_text(result)
    # the figures, tables and reports all or none: a run that fails on its last file leaves no others
    write_together(files, {a.json_path: "--json", out: "--out"} if a.json_path else {out: "--out"})
    print(f"{exp.name}: wrote {out}/ in {result['timing']['seconds']:.1f} s")
    for line in result.get("summary", []):
        print(f"  {line}")
    return 0


_TIMING_KEY = re.compile(r"(?:^|_)seconds$|^ns_per_step$")


def _timing_apart(obj, path: str = ""):
    """``(obj without its wall times, {dotted path: time})``: an experiment's times (keys named
    ``*seconds``, ``ns_per_step``) move to the report's one ``timing`` object, so that two runs
    with the same settings write the same bytes elsewhere."""
    times: dict = {}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            p = f"{path}.{k}" if path else str(k)
            if isinstance(k, str) and _TIMING_KEY.search(k):
                times[p] = v
            else:
                out[k], t = _timing_apart(v, p)
                times.update(t)
        return out, times
    if isinstance(obj, list):
        out = []
        for i, v in enumerate(obj):
            x, t = _timing_apart(v, f"{path}[{i}]")
            out.append(x)
            times.update(t)
        return out, times
    return obj, times


def _chosen(a, kind: str, registry: dict, what: str):
    """The experiment or sweep the command line names; None when ``--help`` was printed instead
    (the command's help, or with a name that one's keys)."""
    if a.help:
        if a.name:
            sys.stdout.write(_named(a.name, kind, registry, what).help())
        else:
            a.parser.print_help()
        return None
    if not a.name:
        raise UsageError(f"{a.command}: name {'an' if what[0] in 'aeiou' else 'a'} {what} "
                         f"(flowcert {a.command} --help lists them)")
    return _named(a.name, kind, registry, what)


def _params(a, item) -> dict:
    """Defaults, then ``--config``, then ``--set`` (which win), validated."""
    overrides = _read_config(a.config) if a.config else {}
    if overrides:
        try:
            item.params(overrides)  # name the file, not --set, when a value in it is wrong
        except UsageError as e:
            raise UsageError(f"--config {a.config}: {str(e).removeprefix('--set ')}") from None
    overrides.update(parse_sets(a.set))
    return item.params(overrides)


def _named(name: str, kind: str, registry: dict, what: str):
    """The experiment or sweep ``name``: its paper's modules of that kind are imported first (names
    start with their paper's id), all papers' when that does not find it."""
    from ._registry import load, papers
    head = name.split("-")[0]
    if head in papers():
        load([head], kind)
    if name not in registry:
        load(None, kind)
    if name not in registry:
        raise UsageError(f"{what} {name!r}: expected one of {', '.join(sorted(registry)) or '(none installed)'}")
    return registry[name]


def _check_out_dir(out) -> None:
    """``--out DIR`` before any work: a path, and not an existing file."""
    if out is None:
        return
    if not str(out).strip():
        raise UsageError("--out: expected a directory path, got an empty string")
    if Path(out).exists() and not Path(out).is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    from ._experiment import resolved as _resolved, writable_place
    resolved = _resolved("--out", out)
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        # files named results.json, values.csv, ... among the system's or the user's own
        raise UsageError(f"--out {out}: the {'filesystem root' if resolved == Path(resolved.anchor) else 'home directory'}"
                         "; give a directory of its own (e.g. out/NAME)")
    writable_place("--out", out, resolved)


def _checkpoint(a, identity: dict):
    """The ``--checkpoint`` store of this command, or None."""
    from ._experiment import Checkpoint
    if a.resume and not a.checkpoint:
        raise UsageError("--resume: needs --checkpoint DIR (where the interrupted run saved its work)")
    return Checkpoint(a.checkpoint, identity, a.resume) if a.checkpoint else None


def _read_config(path) -> dict:
    """``--config FILE.toml``: top-level ``key = value`` pairs, read exactly as ``--set`` would."""
    import tomllib
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise UsageError(f"--config {path}: no such file") from None
    except OSError as e:            # a directory, no permission, a device that fails
        raise UsageError(f"--config {path}: cannot read ({e.strerror or e})") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"--config {path}: not valid TOML ({e})") from None
    except UnicodeDecodeError as e:
        raise UsageError(f"--config {path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except RecursionError:
        raise UsageError(f"--config {path}: nested too deeply to read") from None
    out = {}
    for k, v in data.items():
        if isinstance(v, dict):
            raise UsageError(f"--config {path}: [{k}] tables are not parameters; use top-level key = value")
        out[k] = v if isinstance(v, str) else repr(v)
    return out


def cmd_sweep(a) -> int:
    from ._parallel import TaskError
    from ._sweep import SWEEPS, run_sweep
    sw = _chosen(a, "sweeps", SWEEPS, "sweep")
    if sw is None:
        return 0
    params = _params(a, sw)
    engine = engine_from_args(a)
    if sw.requires:
        sw.requires()
    from ._experiment import check_outputs
    _check_out_dir(a.out)
    out = Path(a.out if a.out is not None else Path("out") / sw.name)
    check_outputs({"--json": a.json_path}, {"--out": out})

    from ._progress import Progress
    progress = Progress(sw.name, "tasks", quiet=a.quiet)
    from ._experiment import collected, json_text, write_together
    try:
        # finished tasks are saved as they come (out/tasks); the figures and reports all or none
        with engine, progress, collected(out) as files:
            result = run_sweep(sw, params, out, engine, progress)
    except KeyboardInterrupt:
        print(f"\n{sw.name}: interrupted; finished tasks are saved in {out / 'tasks'} (the same command "
              "continues)", file=sys.stderr)
        return 130
    except TaskError as e:
        raise UsageError(f"sweep {sw.name}: {e}") from None
    if a.json_path:
        files[a.json_path] = json_text(result)
    write_together(files, {a.json_path: "--json", out: "--out"} if a.json_path else {out: "--out"})
    t = result["timing"]
    print(f"{sw.name}: {result['tasks']} tasks ({t['tasks_reused']} reused) on {t['engine']}; "
          f"wrote {out}/ in {t['seconds']:.1f} s")
    for line in result.get("summary", []):
        print(f"  {line}")
    return 0


def cmd_laws(a) -> int:
    from ._laws import run
    return run(a)


COMMANDS = {"list": cmd_list, "verify": cmd_verify, "latex": cmd_latex, "reproduce": cmd_reproduce,
            "sweep": cmd_sweep, "laws": cmd_laws, "cache": cmd_cache}
_BUILTIN = set(COMMANDS) | {"help"}


def _one_line_warnings(message, category, filename, lineno, file=None, line=None):
    from ._registry import PluginWarning
    if issubclass(category, PluginWarning):
        print(f"flowcert: warning: {message}", file=file or sys.stderr)
    else:
        _show_warning(message, category, filename, lineno, file, line)


def main(argv=None) -> int:
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warnings
        return _main(argv)


def _printable(text: str) -> str:
    """One line whatever the user typed: a newline or other control character in a path or value
    shown escaped (``\\n``), as Python would write it."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _main(argv) -> int:
    a = None
    try:
        a = build_parser().parse_args(argv)
        if getattr(a, "no_cache", False):
            from flowcert._cachedir import disable
            disable()
        if a.command in COMMANDS:
            return COMMANDS[a.command](a)
        from ._registry import resolve
        return resolve(_plugin_commands()[a.command].run)(a)
    except UsageError as e:
        print(f"flowcert: error: {_printable(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:  # a file that cannot be read or written
        print(_printable(f"flowcert: error: {e.strerror or e}: {e.filename or ''}".rstrip(": ")), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("flowcert: interrupted", file=sys.stderr)
        return 130
    except MemoryError as e:
        # sizes past what the checks before the run foresee: still the input's, not a bug
        print(f"flowcert: error: out of memory ({e}); ask for smaller sizes", file=sys.stderr)
        return 2
    except Exception as e:
        if getattr(a, "debug", False):
            raise
        # not bad input (that is a UsageError): flowcert itself went wrong
        msg = f"{type(e).__name__}: {e}".replace("\n", " ")
        print(f"flowcert: internal error: {msg[:300]} -- a bug in flowcert {__version__}; please report it with "
              "the command line (rerun with --debug for the traceback)", file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
