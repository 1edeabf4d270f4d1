"""A newcomer finds every experiment, sweep, bound and key from --help alone; long commands report
progress on a non-terminal; files get the umask's mode; exit codes say holds / fails / undecided."""
import io
import os
import subprocess
import sys
import textwrap

import pytest

from flowcert.checks import EXPERIMENTS, SWEEPS
from flowcert.checks._progress import Progress
from flowcert.checks._registry import load, papers, select
from flowcert.checks.cli import main

FLOWCERT = [sys.executable, "-m", "flowcert"]


def _help(args, capsys):
    try:
        code = main([*args, "--help"])
    except SystemExit as e:  # argparse's own --help
        code = e.code
    out = capsys.readouterr().out
    assert code == 0, out
    return " ".join(out.split())


def test_main_help_lists_papers_commands_and_exit_codes(capsys):
    out = _help([], capsys)
    for pid, p in papers().items():
        assert pid in out and p.title in out
    for cmd in ("list", "verify", "latex", "reproduce", "sweep", "bound", "flow"):
        assert f" {cmd} " in out
    assert "3 undecided at the precision used" in out and "1 a claim fails, or a bound is disproved" in out


def test_verify_help_lists_every_claim_prefix(capsys):
    out = _help(["verify"], capsys)
    prefixes = {".".join(c.id.split(".")[:2]) for c in select([])}
    assert all(f"{p} (" in out for p in prefixes), sorted(p for p in prefixes if f"{p} (" not in out)


@pytest.mark.parametrize("command, registry", [("reproduce", EXPERIMENTS), ("sweep", SWEEPS)])
def test_every_experiment_and_sweep_and_key_is_in_the_help(command, registry, capsys):
    load(None, "experiments" if command == "reproduce" else "sweeps")
    out = _help([command], capsys)
    assert registry
    for name, x in registry.items():
        assert f"{name} {x.paper}, {x.figure}:" in out, name
        keys = _help([command, name], capsys)
        assert f"flowcert {command} {name} [--set KEY=VALUE ...]" in keys
        for k, v in x.defaults.items():
            assert x.keys[k] and " ".join(x.keys[k].split()) in keys, (name, k)
            assert f"{k} " in keys


def test_key_names_mean_one_thing():
    load(None, ("experiments", "sweeps"))
    users = {}
    for x in [*EXPERIMENTS.values(), *SWEEPS.values()]:
        for k in x.defaults:
            users.setdefault(k, set()).add(x.paper)
    assert users["m"] == {"min2023"} and users["neurons"] == {"marion2023"}
    assert "perturbation_exponents" in users


def test_renamed_keys_say_their_new_name(capsys):
    assert main(["reproduce", "marion2023", "--set", "m=4"]) == 2
    assert "--set m: this key is now called neurons" in capsys.readouterr().err
    assert main(["sweep", "chen2022-basins", "--set", "m=[1]"]) == 2
    assert "now called perturbation_exponents" in capsys.readouterr().err


def test_bound_help_names_paper_and_theorem_of_each_bound(capsys):
    out = _help(["bound"], capsys)
    assert "min2023" in out
    for name, theorem in (("two-layer", "Theorem 1(ii)"), ("three-layer", "Theorem 2 eq. (15)"),
                          ("deep", "Theorem 3"), ("lambda-min-T", "Lemma 1")):
        assert f"{name}: " in out and theorem in out


def test_progress_lines_on_a_non_terminal():
    buf = io.StringIO()
    p = Progress("demo", "steps", stream=buf, tty=False, interval=0)
    for k in range(0, 101, 25):
        p(k, 100)
    p(100, 100)  # the closing line is written once
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("flowcert: demo: 0% (0/100 steps)")
    assert "50% (50/100 steps)" in lines[2] and "left" in lines[2]
    assert lines[-1].startswith("flowcert: demo: 100% (100/100 steps)") and len(lines) == 5
    quiet = io.StringIO()
    Progress("demo", stream=quiet, tty=False, interval=0, quiet=True)(1, 2)
    assert quiet.getvalue() == ""


def test_reproduce_piped_to_a_file_shows_progress_lines(tmp_path):
    env = {**os.environ, "FLOWCERT_PROGRESS_SECONDS": "0"}
    args = [*FLOWCERT, "reproduce", "marion2023", "--set", "h=1e-3", "--out", str(tmp_path / "o")]
    r = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("flowcert: marion2023: ")]
    assert len(lines) >= 3 and "elapsed" in lines[-1] and lines[-1].split(": ")[2].startswith("100%")
    r = subprocess.run([*args, "--quiet"], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == ""


def test_output_files_follow_the_umask(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        assert main(["reproduce", "marion2023", "--set", "h=1e-2", "--out", str(tmp_path / "o"), "--quiet"]) == 0
        assert main(["latex", "min2023", "-o", str(tmp_path / "a.tex")]) == 0
        os.umask(0o077)
        assert main(["latex", "min2023", "-o", str(tmp_path / "private.tex")]) == 0
    finally:
        os.umask(old)
    capsys.readouterr()
    files = [f for f in (tmp_path / "o").iterdir()] + [tmp_path / "a.tex"]
    assert files and all(f.stat().st_mode & 0o777 == 0o644 for f in files), [oct(f.stat().st_mode) for f in files]
    assert (tmp_path / "private.tex").stat().st_mode & 0o777 == 0o600


def test_verify_leaves_no_hypothesis_directory_in_the_working_directory(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    r = subprocess.run([*FLOWCERT, "verify", "min2023.lemma1", "--quiet"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not (tmp_path / ".hypothesis").exists()
    r = subprocess.run([sys.executable, "-c", "from flowcert.checks._runner import _hypothesis_home; _hypothesis_home(); "
                        "from hypothesis.configuration import storage_directory; print(storage_directory().path)"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert r.stdout.strip() == str(tmp_path / "cache" / "flowcert" / "hypothesis"), r.stdout + r.stderr


def test_exit_status_undecided_is_3_and_discrepancies_are_marked(tmp_path):
    code = textwrap.dedent("""
        from flowcert.checks import Claim, Verdict, register
        from flowcert.checks.cli import main
        register(Claim("undecided.sec1.ball", "undecided", "derived", "a ball straddles 0", None,
                       lambda x: Verdict(None, 0.0, "certified, Arb 53 bits", "[-1e-20, 1e-20]"), example=0))
        print("codes", main(["verify", "undecided"]), main(["verify", "undecided", "--replay", "0"]),
              main(["verify", "min2023.disc.g9-typo"]))
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "codes 3 3 0" in r.stdout
    assert "min2023.disc.g9-typo (discrepancy)  pass" in r.stdout
    assert "undecided.sec1.ball" in r.stdout and "uncertified" in r.stdout


def test_ticking_reports_elapsed_time_until_the_work_ends():
    import time
    from flowcert.checks._progress import ticking
    buf = io.StringIO()
    with ticking("bound", stream=buf, tty=False, interval=0.05):
        time.sleep(0.3)
    n = len(buf.getvalue().splitlines())
    assert n >= 2 and all(x.startswith("flowcert: bound: ") and "elapsed" in x for x in buf.getvalue().splitlines())
    time.sleep(0.15)
    assert len(buf.getvalue().splitlines()) == n  # the thread stopped with the block
    quiet = io.StringIO()
    with ticking("bound", stream=quiet, tty=False, interval=0.01, quiet=True):
        time.sleep(0.05)
    assert quiet.getvalue() == ""


def test_reports_mark_discrepancies(tmp_path, capsys):
    args = ["verify", "min2023.disc.g9-typo", "--quiet", "--junit", str(tmp_path / "j.xml"),
            "--markdown", str(tmp_path / "r.md")]
    assert main(args) == 0
    capsys.readouterr()
    assert "discrepancy=documents-a-mistake-of-the-paper" in (tmp_path / "j.xml").read_text()
    assert "`min2023.disc.g9-typo` (discrepancy)" in (tmp_path / "r.md").read_text()
