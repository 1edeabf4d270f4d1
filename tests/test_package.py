"""flowcert as one installed namespace beside a researcher's own code: names, public API, cost of
importing, papers through the plugin door, the pytest plugin's behaviour."""
import importlib
import os
import pkgutil
import subprocess
import sys
import textwrap
import types

import pytest

import flowcert

HEAVY = ("numpy", "sympy", "scipy", "hypothesis", "flint", "mpmath", "matplotlib", "numba")


def _py(code, cwd, env=None, **kw):
    """``python -c code`` in ``cwd`` with the path a user's shell gives (no repository on it)."""
    env = {**os.environ, **(env or {})}
    env.pop("PYTHONPATH", None) if env.get("PYTHONPATH") is None else None
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, **kw)


def test_one_namespace_and_no_generic_top_level_names(tmp_path):
    r = _py("""
        import importlib.util, flowcert, flowcert.theory, flowcert.numerics, flowcert.checks
        print(flowcert.__version__)
        print([n for n in ("theory", "numerics", "checks") if importlib.util.find_spec(n) is not None])
    """, tmp_path)
    assert r.returncode == 0, r.stderr
    version, generic = r.stdout.splitlines()
    assert version == flowcert.__version__ and generic == "[]"


def test_python_dash_m_flowcert_runs_the_cli(tmp_path):
    r = subprocess.run([sys.executable, "-m", "flowcert", "--version"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == f"flowcert {flowcert.__version__}"


def _public_modules():
    names = ["flowcert"]
    for sub in ("theory", "numerics", "checks"):
        pkg = importlib.import_module(f"flowcert.{sub}")
        names.append(pkg.__name__)
        for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if not any(part.startswith("_") for part in m.name.split(".")):
                names.append(m.name)
    return names


@pytest.mark.parametrize("name", _public_modules())
def test_public_modules_have_a_curated_all(name):
    mod = importlib.import_module(name)
    assert isinstance(getattr(mod, "__all__", None), (list, tuple)), f"{name} has no __all__"
    for n in mod.__all__:
        assert n == "__version__" or not n.startswith("_"), f"{name}.__all__ exports private {n}"
        obj = getattr(mod, n)  # every exported name exists
        assert n != "annotations"
        if isinstance(obj, types.ModuleType):  # only flowcert's own modules are re-exported
            assert obj.__name__.startswith("flowcert."), f"{name}.__all__ re-exports {obj.__name__}"
    assert len(set(mod.__all__)) == len(mod.__all__)


def test_the_public_module_list_is_not_empty():
    mods = _public_modules()
    assert {"flowcert.checks.cli", "flowcert.checks.strategies", "flowcert.checks.papers.min2023.claims"} <= set(mods)


def test_cli_help_and_plugin_discovery_import_nothing_heavy(tmp_path):
    r = _py(f"""
        import sys
        from flowcert.checks.cli import main
        try:
            main(["--help"])
        except SystemExit:
            pass
        import flowcert, flowcert.checks.pytest_plugin
        flowcert.registered_papers()
        print("heavy:", ",".join(m for m in {HEAVY!r} if m in sys.modules))
    """, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.rstrip().splitlines()[-1] == "heavy:", r.stdout.splitlines()[-1]
    assert "bound" in r.stdout and "reproduce" in r.stdout  # the help itself


def test_a_project_with_its_own_checks_and_numerics_keeps_working(tmp_path):
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "__init__.py").write_text("")
    (tmp_path / "checks" / "sanity.py").write_text("def ok():\n    return True\n")
    (tmp_path / "numerics.py").write_text("def double(x):\n    return 2 * x\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_mine.py").write_text(textwrap.dedent("""
        import numerics
        from checks.sanity import ok
        import flowcert.checks

        def test_mine():
            assert ok() and numerics.double(2) == 4 and flowcert.checks.Claim
    """))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "1 passed" in r.stdout, r.stdout[-2000:] + r.stderr[-1000:]


def test_a_paper_registered_in_process_is_listed_verified_and_exported(tmp_path):
    r = _py("""
        from flowcert.checks import Claim, Paper, Verdict, register, register_paper
        from flowcert.checks.cli import main
        register_paper(Paper("mywork", "My work", ("Me",), "arXiv", 2026))
        register(Claim("mywork.sec1.square", "mywork", "derived", "x^2 >= 0", None,
                       lambda x: Verdict(x * x >= 0, x * x), example=3.0))
        register(Claim("scratch.sec1.one", "scratch", "derived", "1 > 0", None,
                       lambda x: Verdict(True, 1.0), example=None))
        codes = [main(["list", "mywork"]), main(["latex", "mywork", "-o", "m.tex"]), main(["verify", "mywork"]),
                 main(["list", "scratch"]), main(["latex", "scratch", "-o", "s.tex"])]
        print(codes)
    """, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[0, 0, 0, 0, 0]"
    assert "mywork.sec1.square  [derived]" in r.stdout and "1 claims: 1 pass" in r.stdout
    assert r"\section{mywork: Me, My work (arXiv 2026)}" in (tmp_path / "m.tex").read_text()
    assert "scratch.sec1.one" in (tmp_path / "s.tex").read_text()


def _dist(site, name, entry_points):
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[flowcert.papers]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))


def test_a_broken_plugin_is_named_and_the_others_still_load(tmp_path):
    site = tmp_path / "site"
    _dist(site, "broken_plugin", {"broken": "no_such_module:paper", "misnamed": "mini_paper:paper"})
    (site / "mini_paper.py").write_text(
        "from flowcert.checks import Paper\npaper = Paper('other', 'T', ('A',), 'V', 2026)\n")
    r = subprocess.run([sys.executable, "-m", "flowcert", "list", "min2023"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(site)})
    assert r.returncode == 0 and "min2023.thm2" in r.stdout
    warnings = r.stderr.strip().splitlines()
    assert len(warnings) == 2 and all(w.startswith("flowcert: warning: paper plugin") for w in warnings), r.stderr
    assert "'broken'" in r.stderr and "ModuleNotFoundError" in r.stderr
    assert "'misnamed'" in r.stderr and "must be the paper id" in r.stderr


@pytest.mark.parametrize("bad, message", [
    (dict(id="Min2023"), "Paper id"), (dict(title=" "), "title"), (dict(authors=()), "authors"),
    (dict(authors="Me"), "authors: expected a tuple"), (dict(year="2023"), "year"),
    (dict(claims="pkg.claims"), "claims: expected a tuple"),
])
def test_paper_metadata_is_validated(bad, message):
    from flowcert.checks import Paper
    good = dict(id="x2024", title="T", authors=("A",), venue="V", year=2024)
    with pytest.raises((ValueError, TypeError), match=message):
        Paper(**{**good, **bad})


def test_experiment_and_sweep_names_start_with_their_paper():
    from flowcert.checks import Experiment, register_experiment
    with pytest.raises(ValueError, match="must be its paper.s id"):
        register_experiment(Experiment("boxplot", "min2023", "d", {}, lambda p, o, g: {}))


def test_select_takes_a_single_string():
    from flowcert.checks import select
    assert {c.paper for c in select("min2023")} == {"min2023"}


PLUGIN_TESTS = '''
import numpy as np
import pytest
from hypothesis import strategies as st
from flowcert.checks import Claim, Verdict, RunOptions
from flowcert.checks.pytest_plugin import assert_claim

def test_no_selection(flowcert_claim):
    pass

@pytest.mark.flowcert("min2023.no-such-claim")
def test_unknown(flowcert_claim):
    pass

@pytest.mark.flowcert("min2023.thm2.scalar-example")
def test_known(flowcert_claim, flowcert_options):
    assert_claim(flowcert_claim, flowcert_options)

def test_counterexample_shows_the_values():
    c = Claim("demo.sec1.small", "demo", "derived", "x < 3", None,
              lambda ex: Verdict(ex[0] < 3, 3 - ex[0]), st.tuples(st.integers(0, 10), st.just(np.arange(2.0))))
    assert_claim(c, RunOptions())

def test_unrelated():
    pass
'''


def test_pytest_plugin_selection_errors_and_counterexamples(tmp_path):
    (tmp_path / "test_user.py").write_text(PLUGIN_TESTS)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "test_user.py"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = r.stdout
    assert "1 failed, 2 passed, 2 errors" in out, out[-3000:]  # selection problems fail at setup
    assert "flowcert_claim needs @pytest.mark.flowcert(TARGET, ...) or --flowcert-claims" in out
    assert "flowcert marker: target 'min2023.no-such-claim': no such paper or claim" in out
    assert "counterexample: (3, array([0., 1.]))" in out  # shrunk, shown as drawn (not JSON)
    assert "Traceback" not in out


def test_pytest_plugin_registers_its_hypothesis_profiles_on_demand(tmp_path):
    (tmp_path / "test_p.py").write_text(
        "from hypothesis import settings\n\ndef test_p():\n    assert settings.default.max_examples == 100\n"
        "    assert settings.default.derandomize and settings.default.database is None\n")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-profile",
                        "flowcert-ci", "test_p.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-1000:]


BOUND_FACTORIES = ("lambda_min_T", "two_layer_closed_form", "balanced", "delta_two_layer", "lemma3_rhs", "alpha2",
                   "g_three_layer", "delta_star", "theorem3_unimodal", "theorem3_homogeneous")


@pytest.mark.parametrize("name", BOUND_FACTORIES)
def test_every_bound_factory_takes_the_depth_first(name):
    import inspect
    from flowcert import theory as th
    fn = getattr(th, name)
    params = list(inspect.signature(fn).parameters.values())
    assert params[0].name == "depth", f"{name}{inspect.signature(fn)}"
    assert all(p.kind is p.KEYWORD_ONLY for p in params[1:] if p.default is not p.empty and p.name != "lstar")
    depth = params[0].default if params[0].default is not params[0].empty else 4
    args = (depth, 2) if "lstar" in inspect.signature(fn).parameters else (depth,)
    assert isinstance(fn(*args), th.Bound)
    if params[0].default is not params[0].empty:
        with pytest.raises(ValueError, match=f"{name}: depth must be {depth}"):
            fn(depth + 1)
