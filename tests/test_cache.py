"""The on-disk memo of SymPy derivations (flowcert.theory._cache) and the CLI around it."""
import json
import os
import subprocess
import sys
import textwrap

import pytest
import sympy as sp

from flowcert.checks.cli import main
from flowcert.theory import LinearNetwork, _cache


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache directory, and an empty in-process memo, for one test."""
    d = tmp_path / "cache"
    monkeypatch.setenv("FLOWCERT_CACHE_DIR", str(d))
    monkeypatch.delenv("FLOWCERT_NO_CACHE", raising=False)
    monkeypatch.setitem(_cache._STATE, "disk", None)
    saved = dict(_cache._MEMORY)
    _cache._MEMORY.clear()
    yield d
    _cache._MEMORY.clear()
    _cache._MEMORY.update(saved)


def _entries(d):
    return sorted(d.glob("*/*.pickle")) if d.exists() else []


calls = []


@_cache.derivation
def _square_sum(x, n):
    calls.append((x, n))
    return sp.expand((x + 1) ** n)


def test_remembered_in_process_and_on_disk(cache):
    x = sp.Symbol("x")
    calls.clear()
    first = _square_sum(x, 3)
    assert _square_sum(x, 3) == first and len(calls) == 1
    assert len(_entries(cache)) == 1
    _cache._MEMORY.clear()                       # a new process: only the disk remembers
    assert _square_sum(x, 3) == first and len(calls) == 1
    assert _square_sum(x, 4) != first and len(calls) == 2   # another argument, another entry
    assert len(_entries(cache)) == 2


def test_key_spells_out_assumptions(cache):
    calls.clear()
    a, b = sp.Symbol("x"), sp.Symbol("x", positive=True)
    assert _square_sum(a, 2) != _square_sum(b, 2)  # equal names, different symbols
    assert len(calls) == 2


def test_key_separates_what_srepr_separates():
    """The tree spelling (class and arguments) is as fine as ``srepr``: two expressions get one
    key only if they are the same tree, and a tree rebuilt from its arguments keeps its key."""
    x, y = sp.Symbol("x"), sp.Symbol("y", real=True)
    f = sp.Function("f")
    exprs = [x + y, x * y, x ** y, y ** x, sp.Mul(2, x + y, evaluate=False), 2 * x + 2 * y,
             sp.Integral(x * y, (x, 0, 1)), sp.Integral(x * y, (y, 0, 1)),
             sp.Piecewise((x, x < y), (y, True)), sp.Piecewise((x, x <= y), (y, True)),
             sp.Float("0.1", 15), sp.Float("0.1", 30), sp.Rational(1, 10), f(x), sp.Function("g")(x),
             sp.MatrixSymbol("W", 2, 3), sp.MatrixSymbol("W", 3, 2), sp.Symbol("x", positive=True) + y]
    keys = [_cache._spell(e) for e in exprs]
    for e, k in zip(exprs, keys):
        assert [sp.srepr(o) for o, ko in zip(exprs, keys) if ko == k] == [sp.srepr(e)]
        rebuilt = e.func(*e.args) if e.args else e
        if sp.srepr(rebuilt) == sp.srepr(e):      # (an unevaluated product evaluates when rebuilt)
            assert _cache._spell(rebuilt) == k


def test_key_ignores_what_was_computed_but_not_what_was_planted():
    from flowcert.theory._rank_one import ChenNetwork
    fresh = _cache._spell(ChenNetwork(3))
    c = ChenNetwork(3)                            # its own instance: chen_network(3) is shared
    c.flow, c.gradient                            # derived properties, computed on this instance
    assert _cache._spell(c) == fresh              # the same network: the same key, whatever ran first
    g = list(c.gradient)
    g[0] = g[0].T
    c.__dict__["gradient"] = tuple(g)             # a wrong gradient put in by hand
    assert _cache._spell(c) != fresh


def test_an_edited_theory_never_reads_old_entries(cache, monkeypatch):
    x = sp.Symbol("x")
    calls.clear()
    _square_sum(x, 2)
    _cache._MEMORY.clear()
    monkeypatch.setitem(_cache._STATE, "digest", "0" * 16)   # what another source digest gives
    _square_sum(x, 2)
    assert len(calls) == 2 and len({p.parent for p in _entries(cache)}) == 2


def test_digest_covers_theory_source_and_versions():
    d = _cache._digest()
    assert len(d) == 16 and _cache._digest() == d


def test_damaged_entry_is_derived_again(cache):
    x = sp.Symbol("x")
    calls.clear()
    good = _square_sum(x, 2)
    (path,) = _entries(cache)
    path.write_bytes(b"not a pickle")
    _cache._MEMORY.clear()
    assert _square_sum(x, 2) == good and len(calls) == 2
    _cache._MEMORY.clear()
    assert _square_sum(x, 2) == good and len(calls) == 2    # rewritten whole


def test_disabled_reads_and_writes_nothing(cache):
    x = sp.Symbol("x")
    calls.clear()
    with _cache.disabled():
        _square_sum(x, 5)
        _square_sum(x, 5)
    assert len(calls) == 1 and not _entries(cache)   # shared within the block, nothing on disk


def test_unkeyable_argument_is_derived_every_time(cache):
    @_cache.derivation
    def apply(f):
        calls.append(f)
        return f(2)

    calls.clear()
    assert apply(lambda v: v + 1) == 3 and apply(lambda v: v + 1) == 3
    assert len(calls) == 2 and not _entries(cache)


def test_caller_cannot_change_the_memo(cache):
    @_cache.derivation
    def table(n):
        return {k: k * k for k in range(n)}

    t = table(3)
    t[99] = 0
    assert 99 not in table(3)


def test_loaded_gradient_equals_derived(cache):
    net = LinearNetwork(3)
    fresh = LinearNetwork.gradient.func.uncached(net)
    assert LinearNetwork(3).gradient == fresh                 # derived and stored
    _cache._MEMORY.clear()
    assert LinearNetwork(3).gradient == fresh                 # read back from disk
    assert _entries(cache)


_WORKER = textwrap.dedent("""
    import sys
    from flowcert.theory import LinearNetwork, _cache
    g = LinearNetwork(4).gradient
    print(sum(_cache.LOADED.values()), len(g))
""")


def test_concurrent_processes_share_entries_safely(cache):
    env = {**os.environ, "FLOWCERT_CACHE_DIR": str(cache)}
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    outs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs) and all(o[1] == "4" for o in outs)
    assert not list(cache.glob("*/.tmp-*"))                  # no half-written file left behind
    again = subprocess.run([sys.executable, "-c", _WORKER], env=env, capture_output=True, text=True, timeout=300)
    assert again.stdout.split()[0] != "0"                    # a later run reads what they wrote


def test_cli_no_cache_and_cache_command(cache, capsys):
    assert main(["--no-cache", "verify", "min2023.lemma2.conservation-symbolic", "--jobs", "1"]) == 0
    assert not _entries(cache) and not (cache / "claim-seconds.json").exists()
    _cache._STATE["disk"] = None
    _cache._MEMORY.clear()                       # a new process
    assert main(["verify", "min2023.lemma2.conservation-symbolic", "--jobs", "1"]) == 0
    assert _entries(cache)
    costs = json.loads((cache / "claim-seconds.json").read_text())
    assert set(costs) == {"min2023.lemma2.conservation-symbolic"}
    capsys.readouterr()
    assert main(["cache"]) == 0
    assert str(cache) in capsys.readouterr().out
    (cache / "listing-0.json").write_text("[]")
    assert main(["cache", "--clear"]) == 0
    assert "removed" in capsys.readouterr().out
    assert not _entries(cache) and not (cache / "claim-seconds.json").exists()
    assert not list(cache.glob("listing-*.json"))


def test_list_is_remembered_and_equals_a_fresh_listing(cache, tmp_path):
    env = {**os.environ, "FLOWCERT_CACHE_DIR": str(cache)}
    run = [sys.executable, "-m", "flowcert.checks.cli"]
    fresh = subprocess.run(run + ["--no-cache", "list"], env=env, capture_output=True, text=True, timeout=300)
    first = subprocess.run(run + ["list"], env=env, capture_output=True, text=True, timeout=300)
    again = subprocess.run(run + ["list"], env=env, capture_output=True, text=True, timeout=300)
    assert fresh.returncode == first.returncode == again.returncode == 0
    assert fresh.stdout == first.stdout == again.stdout and fresh.stdout.count("\n") > 50
    assert list(cache.glob("listing-*.json"))
    # a run that imported no claim module read it from the cache
    probe = ("import sys; from flowcert.checks.cli import main; main(['list']); "
             "print('claims imported' if any(m.endswith('.claims') for m in sys.modules) else 'none', file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert r.stderr.strip().endswith("none") and r.stdout == fresh.stdout


@pytest.mark.parametrize("command, modules", [("reproduce", ".experiments"), ("verify", ".claims")])
def test_help_listings_are_remembered_and_equal_fresh_ones(cache, command, modules):
    env = {**os.environ, "FLOWCERT_CACHE_DIR": str(cache)}
    run = [sys.executable, "-m", "flowcert.checks.cli"]
    fresh = subprocess.run(run + ["--no-cache", command, "--help"], env=env, capture_output=True, text=True,
                           timeout=300)
    first = subprocess.run(run + [command, "--help"], env=env, capture_output=True, text=True, timeout=300)
    assert fresh.returncode == first.returncode == 0
    assert fresh.stdout == first.stdout and "min2023" in fresh.stdout
    assert list(cache.glob("listing-*.txt"))
    probe = (f"import sys; from flowcert.checks.cli import main\ntry: main(['{command}', '--help'])\n"
             f"except SystemExit: pass\nprint('imported' if any(m.endswith('{modules}') for m in sys.modules) "
             "else 'none', file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert r.stderr.strip().endswith("none") and r.stdout == fresh.stdout
