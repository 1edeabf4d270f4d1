"""Sweeps and parallel verification: deterministic tasks, resume, bad input, and the same bytes on
one process, on local dask workers and on a dask cluster started here (scheduler + 2 workers on
127.0.0.1)."""
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import flowcert.checks._parallel as P
from flowcert.checks.cli import main

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--set", "samples=36", "--set", "chunk=4", "--set", "widths=[[6, 7], [9, 9]]"]  # 6 per cell
# Claims whose results do not depend on what the process computed before: some rounding-level
# margins do (min2023.apph.collapse's 8.7e-14 becomes 8.64e-14 after other SymPy constructions),
# and a worker's history is not the sequential run's.
VERIFY = ["min2023.thm2.scalar-example", "min2023.disc.g9-typo", "min2023.thm3.unimodal",
          "min2023.disc.appendix-delta-star", "min2023.disc.alpha2-printed"]


def _sweep(out, *extra):
    return main(["sweep", "min2023-positivity", *SMALL, "--out", str(out), *extra])


def _without_timing(path: Path) -> str:
    d = json.loads(path.read_text())
    d.pop("timing")
    return json.dumps(d, sort_keys=True)


def _same_outputs(a: Path, b: Path):
    name = "min2023-positivity.json"
    assert _without_timing(a / name) == _without_timing(b / name)
    for f in ("delta_star.npy", "alpha2.npy", "positivity.png"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    ta = sorted(p.name for p in (a / "tasks").iterdir())
    assert ta == sorted(p.name for p in (b / "tasks").iterdir())
    for f in ta:
        assert (a / "tasks" / f).read_bytes() == (b / "tasks" / f).read_bytes(), f


# -- the tasks -----------------------------------------------------------------------------------


def test_chunks_do_not_change_the_draws():
    from flowcert.checks.papers.min2023.sweeps import positivity_chunk
    kw = dict(scheme="fan_out", n=3, m=2, h1=5, h2=4, target=1.0, seed=7)
    whole = positivity_chunk(**kw, start=0, stop=6)
    a, b = positivity_chunk(**kw, start=0, stop=2), positivity_chunk(**kw, start=2, stop=6)
    assert whole["delta_star"] == a["delta_star"] + b["delta_star"]
    assert whole["alpha2"] == a["alpha2"] + b["alpha2"]
    other = positivity_chunk(**{**kw, "seed": 8}, start=0, stop=2)
    assert other["delta_star"] != a["delta_star"]


def test_values_are_the_boxplot_and_theorem1_functions():
    from flowcert.checks.papers.min2023.experiments import delta_star_main
    from flowcert.checks.papers.min2023.sweeps import alpha2_value, delta_star_value, positivity_draw
    w3, (w1, w2) = positivity_draw("fan_in", 5, 1, 8, 9, 0, 3)
    assert [w.shape for w in w3] == [(5, 8), (8, 9), (9, 1)] and (w1.shape, w2.shape) == ((5, 8), (8, 1))
    v, tol = delta_star_value(w3)
    assert v == delta_star_main(w3) and 0 < tol < 1e-10
    # both wrap theory's Delta*: against tests/reference.py's numpy implementation as well
    from .reference import delta_star as independent
    assert abs(v - independent(*w3)) <= 1e-12 * (1 + abs(v))
    # alpha2 at zero margin is Delta = [lambda_n(D)]_+ + [lambda_m(-D)]_+ (the target is far)
    Y = np.full((5, 1), 100.0)
    a, _ = alpha2_value(w1, w2, Y)
    lam = np.linalg.eigvalsh(w1.T @ w1 - w2 @ w2.T)[::-1]
    assert a == pytest.approx(max(lam[4], 0) + max(-lam[-1], 0), rel=1e-12)


# -- the CLI on one process ----------------------------------------------------------------------


def test_sweep_writes_results_and_resumes(tmp_path, capsys):
    a = tmp_path / "a"
    assert _sweep(a) == 0
    out = capsys.readouterr().out
    assert "12 tasks (0 reused) on this process" in out and "fan_in" in out
    res = json.loads((a / "min2023-positivity.json").read_text())
    assert len(res["cells"]) == 6 and res["cells"][0]["delta_star"]["samples"] == 6 == res["samples_per_cell"]
    assert np.load(a / "delta_star.npy").shape == (3, 2, 6)
    assert (a / "positivity.png").read_bytes().startswith(b"\x89PNG")
    # a killed run leaves some tasks behind; the same command computes only the rest
    b = tmp_path / "b"
    b.mkdir()
    (b / "tasks").mkdir()
    for f in [a / "tasks" / "run.json", *sorted((a / "tasks").glob("*-*.json"))[::2]]:
        (b / "tasks" / f.name).write_bytes(f.read_bytes())
    assert _sweep(b) == 0
    assert "12 tasks (6 reused)" in capsys.readouterr().out
    _same_outputs(a, b)


def test_more_samples_reuse_the_finished_chunks(tmp_path, capsys):
    a = tmp_path / "a"
    assert main(["sweep", "min2023-positivity", *SMALL, "--set", "samples=19", "--out", str(a)]) == 0
    assert _sweep(a) == 0
    assert "12 tasks (6 reused)" in capsys.readouterr().out
    fresh = tmp_path / "fresh"
    assert _sweep(fresh) == 0
    assert _without_timing(a / "min2023-positivity.json") == _without_timing(fresh / "min2023-positivity.json")


def test_store_of_other_settings_is_refused(tmp_path, capsys):
    assert _sweep(tmp_path) == 0
    capsys.readouterr()
    assert _sweep(tmp_path, "--set", "seed=1") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "other settings" in err and "seed" in err


BAD = [
    (["sweep", "zz-nope"], "sweep"),
    (["sweep", "chen2022-basins", "--set", "ks=[1]"], "ks"),
    (["sweep", "chen2022-basins", "--set", "perturbation_exponents=[-1]"], "perturbation_exponents"),
    (["sweep", "chen2022-basins", "--set", "widths=[2, 2, 2]"], "widths"),
    (["sweep", "min2023-positivity", "--set", "samples=0"], "samples"),
    (["sweep", "min2023-positivity", "--set", "widths=[[0, 2]]"], "widths"),
    (["sweep", "min2023-positivity", "--set", "widths=[3, 4]"], "widths"),
    (["sweep", "min2023-positivity", "--set", "widths=[[20, 20], [20, 20]]"], "widths"),
    (["sweep", "min2023-positivity", "--set", "schemes=['bogus']"], "schemes"),
    (["sweep", "min2023-positivity", "--set", "target=nan"], "target"),
    (["sweep", "min2023-positivity", "--set", "chunk=-1"], "chunk"),
    (["sweep", "min2023-positivity", "--set", "zz=1"], "--set"),
    (["sweep", "min2023-positivity", "--jobs", "0"], "--jobs"),
    (["sweep", "min2023-positivity", "--jobs", "x"], "--jobs"),
    (["sweep", "min2023-positivity", "--jobs", "2", "--scheduler", "tcp://127.0.0.1:8786"], "--scheduler"),
    (["sweep", "min2023-positivity", "--scheduler", "nowhere"], "--scheduler"),
    (["sweep", "min2023-positivity", "--scheduler", "tcp://h:0"], "--scheduler"),
    (["verify", "min2023.disc.g9-typo", "--jobs", "-2"], "--jobs"),
    (["verify", "min2023.disc.g9-typo", "--scheduler", "tcp://x"], "--scheduler"),
]


@pytest.mark.parametrize("argv, needle", BAD)
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, argv, needle):
    out = tmp_path / "out"
    argv = argv + (["--out", str(out)] if argv[0] == "sweep" else ["--json", str(out)])
    assert main(argv) == 2
    o, err = capsys.readouterr()
    assert err.startswith("flowcert: error:") and err.count("\n") == 1 and needle in err, err
    assert "Traceback" not in err + o and not out.exists()


def test_without_dask_only_the_scheduler_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(P, "have_dask", lambda: False)
    for argv in (["verify", "min2023.disc.g9-typo", "--scheduler", "tcp://127.0.0.1:8786"],
                 ["sweep", "min2023-positivity", "--scheduler", "tcp://127.0.0.1:8786",
                  "--out", str(tmp_path / "o")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "flowcert[distributed]" in err, err
    assert not (tmp_path / "o").exists()
    # local workers are the standard library's process pool: no dask needed
    assert main(["verify", "min2023.disc.g9-typo", "min2023.disc.exp-one", "--jobs", "2"]) == 0


def test_sweep_killed_then_resumed_equals_uninterrupted(tmp_path, capsys):
    args = ["sweep", "min2023-positivity", "--set", "samples=40", "--set", "chunk=1",
            "--set", "widths=[[60, 60]]"]
    full = tmp_path / "full"
    assert main([*args, "--out", str(full)]) == 0
    part = tmp_path / "part"
    proc = subprocess.Popen([sys.executable, "-m", "flowcert", *args, "--out", str(part)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(part.glob("tasks/*-*.json"))) < 3 and proc.poll() is None:
        time.sleep(0.02)
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for f in part.glob("tasks/*.json"):  # atomic writes: a visible file is always whole
        json.loads(f.read_text())
    assert main([*args, "--out", str(part)]) == 0
    _same_outputs(full, part)
    if not killed:
        pytest.skip("the sweep finished before it could be killed; the re-run was still checked")


MARION = ["--set", "seeds=2", "--set", "tau_max=0.02", "--set", "epsilons=[0.1, 1.0]"]


def test_marion_epsilon_sweep_runs_resumes_and_shares_initialisations(tmp_path, capsys):
    a = tmp_path / "a"
    assert main(["sweep", "marion2023-epsilon", *MARION, "--out", str(a)]) == 0
    res = json.loads((a / "marion2023-epsilon.json").read_text())
    e01, e1 = res["epsilons"]
    assert (e01["epsilon"], e01["steps_P"], e1["steps_P"]) == (0.1, int(0.02 / (1e-5 * 0.1)), int(0.02 / 1e-5))
    assert len(e01["final_loss"]) == 2 and all(x > 0 for x in e01["final_loss"] + e1["final_loss"])
    assert np.load(a / "final_loss.npy").shape == (2, 2)
    runs = {p.name: json.loads(p.read_text()) for p in (a / "tasks").glob("eps*.json")}
    # run s starts from the same positions at every eps, and differs between runs
    assert runs["eps0.1-run0.json"]["initial_positions"] == runs["eps1.0-run0.json"]["initial_positions"]
    assert runs["eps0.1-run0.json"]["initial_positions"] != runs["eps0.1-run1.json"]["initial_positions"]
    # one more seed: only the new runs are computed, the rest is what a fresh run gives
    assert main(["sweep", "marion2023-epsilon", *MARION, "--set", "seeds=3", "--out", str(a)]) == 0
    assert "6 tasks (4 reused)" in capsys.readouterr().out
    b = tmp_path / "b"
    assert main(["sweep", "marion2023-epsilon", *MARION, "--set", "seeds=3", "--out", str(b)]) == 0
    assert _without_timing(a / "marion2023-epsilon.json") == _without_timing(b / "marion2023-epsilon.json")
    assert (a / "epsilon.png").read_bytes() == (b / "epsilon.png").read_bytes()


@pytest.mark.parametrize("key, value", [("epsilons", "[]"), ("epsilons", "[0.1, -1]"), ("seeds", "0"),
                                        ("target", "nope"), ("gradient", "x"), ("h", "0"),
                                        ("epsilons", "[1e-9]")])
def test_marion_bad_parameters(tmp_path, capsys, key, value):
    out = tmp_path / "o"
    assert main(["sweep", "marion2023-epsilon", "--set", f"{key}={value}", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and key in err and not out.exists(), err


def test_chen_basins_limits_and_plateaus(tmp_path, capsys):
    a = tmp_path / "a"
    argv = ["sweep", "chen2022-basins", "--set", "samples=2", "--set", "chunk=1", "--set", "ks=[3]",
            "--set", "perturbation_exponents=[0, 2, 6]", "--out", str(a)]
    assert main(argv) == 0
    res = json.loads((a / "chen2022-basins.json").read_text())
    lim = {c["m"]: c["limits"] for c in res["cells"]}
    assert lim == {0: {"3": 2}, 2: {"1": 2}, 6: {"1": 2}}  # in the basin: its saddle; perturbed: the minimum
    plateau = {c["m"]: c["plateau_t"]["median"] for c in res["cells"]}
    assert plateau[6] > plateau[2] > 0  # a smaller seed along u_1, v_1 stays longer near the saddle
    assert np.load(a / "limit.npy").shape == (1, 3, 2)
    assert main(argv) == 0 and "6 tasks (6 reused)" in capsys.readouterr().out.splitlines()[-4]


# -- dask ----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1 (always terminated)."""
    pytest.importorskip("distributed")
    from distributed import Client
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    log = open(tmp_path_factory.mktemp("dask") / "cluster.log", "w")
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT)}
    procs = []
    try:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
             str(port), "--no-dashboard"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        for k in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", addr, "--host", "127.0.0.1",
                 "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", f"flowcert-test-{k}",
                 "--death-timeout", "60"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        with Client(addr, timeout=60, set_as_default=False) as c:
            c.wait_for_workers(2, timeout=60)
        yield addr
    finally:
        for p in reversed(procs):  # workers first: a worker without its scheduler retries a while
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()


def test_cluster_sweep_matches_one_process(dask_cluster, tmp_path, capsys):
    assert _sweep(tmp_path / "cluster", "--scheduler", dask_cluster) == 0
    assert f"on dask cluster at {dask_cluster}" in capsys.readouterr().out
    assert _sweep(tmp_path / "local") == 0
    _same_outputs(tmp_path / "cluster", tmp_path / "local")
    for name in ("cluster", "local"):
        argv = ["sweep", "marion2023-epsilon", *MARION, "--out", str(tmp_path / f"m-{name}")]
        assert main(argv + (["--scheduler", dask_cluster] if name == "cluster" else [])) == 0
    m = "marion2023-epsilon.json"
    assert _without_timing(tmp_path / "m-cluster" / m) == _without_timing(tmp_path / "m-local" / m)


def _table(out: str) -> list[str]:
    """The report's lines without the seconds column and the closing total."""
    return [line.rsplit(None, 1)[0] if line.startswith("min2023") else line for line in out.splitlines()[:-1]]


def test_cluster_verify_and_resume_match_one_process(dask_cluster, tmp_path, capsys):
    one = tmp_path / "one.json"
    assert main(["verify", *VERIFY, "--json", str(one)]) == 0
    table = _table(capsys.readouterr().out)
    two = tmp_path / "two.json"
    ck = tmp_path / "ck"
    assert main(["verify", *VERIFY, "--scheduler", dask_cluster, "--json", str(two),
                 "--checkpoint", str(ck)]) == 0
    assert _table(capsys.readouterr().out) == table
    assert _without_timing(one) == _without_timing(two)
    # resume after losing two claims: they run on the cluster, the others come from the store
    saved = sorted(ck.glob("min2023.*.json"))
    for f in saved[1::2]:
        f.unlink()
    three = tmp_path / "three.json"
    assert main(["verify", *VERIFY, "--scheduler", dask_cluster, "--json", str(three),
                 "--checkpoint", str(ck), "--resume"]) == 0
    assert _without_timing(one) == _without_timing(three)


def test_local_workers_match_one_process(tmp_path, capsys):
    assert _sweep(tmp_path / "two", "--jobs", "2") == 0
    assert "on 2 local worker processes" in capsys.readouterr().out
    assert _sweep(tmp_path / "one") == 0
    capsys.readouterr()
    _same_outputs(tmp_path / "two", tmp_path / "one")
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    assert main(["verify", *VERIFY, "--json", str(one)]) == 0
    table = _table(capsys.readouterr().out)
    assert main(["verify", *VERIFY, "--jobs", "2", "--json", str(two)]) == 0
    assert _table(capsys.readouterr().out) == table
    assert _without_timing(one) == _without_timing(two)


def test_claims_sharing_an_experiment_run_in_one_task():
    """Claims naming the same ``shares`` go to one worker task, in their order (the first computes
    the cached run, the others reuse it); every other claim is a task of its own; the order of the
    tasks is the claims' order."""
    from types import SimpleNamespace as C
    from flowcert.checks._parallel import share_groups
    claims = [C(id="p.a.x", shares=""), C(id="p.b.y", shares="runs"), C(id="p.c.z", shares=""),
              C(id="p.b.w", shares="runs"), C(id="p.d.v", shares="other"), C(id="p.e.u", shares="other")]
    assert share_groups(claims) == [[0], [1, 3], [2], [4, 5]]
    from flowcert.checks._registry import select
    groups = [[c.id for c in select("marion2023.appendix-c")]]
    assert [[select("marion2023.appendix-c")[i].id for i in g]
            for g in share_groups(select("marion2023.appendix-c"))] == groups
