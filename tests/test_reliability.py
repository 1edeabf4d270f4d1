"""Determinism, kill -9 and resume, atomic outputs, honest verdicts."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowcert.checks.cli import main

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ["min2023.thm2", "min2023.thm3", "min2023.disc.g9-typo", "min2023.apph"]


def _without_timing(path: Path) -> str:
    d = json.loads(path.read_text())
    d.pop("timing", None)
    return json.dumps(d, sort_keys=True)


def test_same_seed_same_json(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["verify", *TARGETS, "--seed", "3", "--json", str(a)]) == 0
    assert main(["verify", *TARGETS, "--seed", "3", "--json", str(b)]) == 0
    assert _without_timing(a) == _without_timing(b)
    c = tmp_path / "c.json"
    assert main(["verify", *TARGETS, "--seed", "4", "--json", str(c)]) == 0
    assert _without_timing(a) != _without_timing(c)  # the seed reaches the draws


def test_reproduce_is_deterministic(tmp_path, capsys):
    args = ["reproduce", "min2023-boxplot", "--set", "h1=20", "--set", "h2=20", "--set", "samples=6"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert _without_timing(tmp_path / "a" / "min2023-boxplot.json") == \
        _without_timing(tmp_path / "b" / "min2023-boxplot.json")


def test_kill_and_resume_equals_uninterrupted(tmp_path, capsys):
    full = tmp_path / "full.json"
    assert main(["verify", *TARGETS, "--json", str(full)]) == 0
    ck = tmp_path / "ck"
    cmd = [sys.executable, "-m", "flowcert", "verify", *TARGETS, "--checkpoint", str(ck)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(ck.glob("min2023.*.json"))) < 3 and proc.poll() is None:
        time.sleep(0.05)
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = len(list(ck.glob("min2023.*.json")))
    assert saved >= 1
    for f in ck.glob("*.json"):  # atomic writes: a visible file is always whole
        json.loads(f.read_text())
    resumed = tmp_path / "resumed.json"
    assert main(["verify", *TARGETS, "--checkpoint", str(ck), "--resume", "--json", str(resumed)]) == 0
    assert _without_timing(resumed) == _without_timing(full)
    if not killed:
        pytest.skip("the run finished before it could be killed; resume was still checked")


def test_interrupt_exits_130_and_says_what_finished(tmp_path):
    cmd = [sys.executable, "-m", "flowcert", "verify", *TARGETS, "--checkpoint", str(tmp_path / "ck")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((tmp_path / "ck").glob("min2023.*.json")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("finished before the interrupt arrived")
    assert proc.returncode == 130
    assert "claims finished" in err and "--resume" in err and "Traceback" not in err


def test_write_json_never_writes_nan(tmp_path):
    from flowcert.checks._experiment import write_json
    p = tmp_path / "x.json"
    write_json(p, {"a": float("nan"), "b": [1.0, float("inf")]})
    assert json.loads(p.read_text()) == {"a": None, "b": [1.0, None]}


def test_gd_divergence_is_reported_not_nan(tmp_path, capsys):
    from flowcert.checks.papers.min2023.experiments import gd_run
    r = gd_run(1, 10, 10, -2.0, 5.0, 50, 0, 1)
    assert r["status"].startswith("diverged at step")
    assert all(x == x for x in r["loss"])  # no NaN recorded


def test_draws_do_not_depend_on_the_other_modules_loaded(tmp_path):
    """Hypothesis draws constants found in local source modules; a claim's inputs must depend on the
    seed alone, not on what else the process imported (a test session, an editable install)."""
    (tmp_path / "lots_of_constants.py").write_text(
        "C = [0.1337, -1.4142, 0.7071, 1.9375, -0.0625, 0.3183, 1.25e-3, 3, 4, 5]\n")
    runs = []
    for extra in ("", "import lots_of_constants; "):
        code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); {extra}"
                "from flowcert.checks.cli import main; "
                f"sys.exit(main(['verify', 'min2023.thm1', 'min2023.lemma1', '--quiet', '--json', "
                f"{str(tmp_path / (str(len(runs)) + '.json'))!r}]))")
        r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        runs.append(_without_timing(tmp_path / f"{len(runs)}.json"))
    assert runs[0] == runs[1]


def test_checkpoint_never_touches_the_users_files(tmp_path, capsys):
    """A directory of the user's is refused, whatever it holds; in a checkpoint of flowcert's only
    the temporary files of its own unfinished writes are cleaned up."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / ".settings.json.bak").write_text("keep")
    (mine / "notes.txt").write_text("keep")
    assert main(["verify", "min2023.disc.g9-typo", "--jobs", "1", "--checkpoint", str(mine)]) == 2
    assert "not a flowcert checkpoint" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == [".settings.json.bak", "notes.txt"]
    ck = tmp_path / "ck"
    assert main(["verify", "min2023.disc.g9-typo", "--jobs", "1", "--checkpoint", str(ck)]) == 0
    (ck / ".keep.json.bak").write_text("keep")                              # the user's, in it
    (ck / ".min2023.x.json.flowcert-partial-abc").write_text("{")          # a killed write's
    assert main(["verify", "min2023.disc.g9-typo", "--jobs", "1", "--checkpoint", str(ck), "--resume"]) == 0
    names = {p.name for p in ck.iterdir()}
    assert ".keep.json.bak" in names and ".min2023.x.json.flowcert-partial-abc" not in names


@pytest.mark.parametrize("args, needle", [
    (["--json", "{d}/r.out", "--junit", "{d}/r.out"], "the same file as --json"),
    (["--json", "{d}"], "is a directory"),
    (["--json", ""], "empty string"),
    (["--json", "{d}/afile/r.json"], "is not a directory"),
    (["--checkpoint", "{d}/ck", "--json", "{d}/ck/run.json"], "inside --checkpoint"),
    (["--figures", "{d}"], "goes with --markdown"),
    (["--markdown", "{d}/r.md", "--figures", "{d}/none"], "no such directory"),
])
def test_bad_report_paths_are_refused_before_any_work(tmp_path, capsys, args, needle):
    (tmp_path / "afile").write_text("x")
    argv = ["verify", "min2023.disc.g9-typo", "--jobs", "1", *[x.format(d=tmp_path) for x in args]]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert needle in err and "claim" not in out          # refused before the table's first line
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_reports_are_written_through_links_and_into_streams(tmp_path, capsys):
    from flowcert.checks._experiment import write_atomic
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_atomic(link, "new")
    assert link.is_symlink() and target.read_text() == "new"     # the link kept, its target written
    write_atomic(tmp_path / "dangling.json", "x")
    (tmp_path / "to-null").symlink_to("/dev/null")
    write_atomic(tmp_path / "to-null", "discarded")               # a device: written, never replaced
    assert Path("/dev/null").is_char_device() and (tmp_path / "to-null").is_symlink()
    import os
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    import threading
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    write_atomic(fifo, "streamed")
    reader.join(10)
    assert got == ["streamed"] and fifo.is_fifo()


def test_checkpoint_is_refused_by_an_experiment_that_saves_nothing(tmp_path, capsys):
    ck = tmp_path / "ck"
    assert main(["reproduce", "chen2022", "--out", str(tmp_path / "out"), "--checkpoint", str(ck)]) == 2
    assert "saves no partial work" in capsys.readouterr().err
    assert not ck.exists() and not (tmp_path / "out").exists()


def test_damaged_checkpoint_files_are_one_line_naming_them(tmp_path, capsys):
    ck = tmp_path / "ck"
    args = ["verify", "min2023.disc.g9-typo", "min2023.disc.exp-one", "--jobs", "1", "--checkpoint", str(ck)]
    assert main(args) == 0
    unit = ck / "min2023.disc.g9-typo.json"
    unit.write_text('{"broken')
    capsys.readouterr()
    assert main(args + ["--resume"]) == 2
    err = capsys.readouterr().err
    assert "--checkpoint" in err and "min2023.disc.g9-typo.json is damaged" in err and err.count("\n") == 1
    unit.unlink()                                   # as the message says: that claim runs again
    assert main(args + ["--resume"]) == 0
    (ck / "run.json").write_bytes(b"\xff\xfe")
    assert main(args + ["--resume"]) == 2 and "run.json is damaged" in capsys.readouterr().err


@pytest.mark.parametrize("content, needle", [(b"a = 1\n\xff\xfe = 2\n", "not UTF-8"),
                                             (b"a = " + b"[" * 1000 + b"]" * 1000 + b"\n", "nested too deeply")])
def test_unreadable_config_files_are_one_line(tmp_path, capsys, content, needle):
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(content)
    assert main(["reproduce", "chen2022", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert needle in err and "--config" in err and err.count("\n") == 1


def test_a_failed_write_names_the_file_asked_for_and_leaves_nothing(tmp_path, monkeypatch):
    """A full disk (ENOSPC raised by the write): the error names the report, not the temporary
    file, and no partial or temporary file remains."""
    import errno
    import os
    from flowcert.checks import _experiment
    real = os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            self.f.close()
        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(_experiment.os, "fdopen", lambda fd, mode: Full(real(fd, mode)))
    target = tmp_path / "report.json"
    with pytest.raises(OSError) as e:
        _experiment.write_atomic(target, "{}")
    assert e.value.filename == str(target) and e.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_reproduce_keeps_wall_times_in_the_timing_object(tmp_path, capsys):
    """Experiments report their own times (per repeat, per run); the written JSON carries them
    only under ``timing``, so two runs write the same bytes elsewhere."""
    args = ["reproduce", "marion2023-relu", "--set", "repeats=1", "--set", "epochs_standard=20",
            "--set", "epochs_two_timescale=40", "-q"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "marion2023-relu.json").read_text())
    b = json.loads((tmp_path / "b" / "marion2023-relu.json").read_text())
    assert any("seconds" in k for k in a["timing"] if k != "seconds")
    a.pop("timing"), b.pop("timing")
    assert a == b and "seconds" not in json.dumps(a)


def test_csv_cells_are_never_nan():
    from flowcert.checks._experiment import csv_number
    assert [csv_number(x) for x in (0.1, 2, float("nan"), float("inf"), -float("inf"))] == ["0.1", "2.0", "", "", ""]


def test_reports_are_written_all_or_none(tmp_path, capsys, monkeypatch):
    """A full disk while the last report is written: the earlier reports keep their old content
    and no temporary file remains."""
    import errno
    import os
    from flowcert.checks import _experiment
    old_json, old_md = tmp_path / "r.json", tmp_path / "r.md"
    old_json.write_text("old")
    old_md.write_text("old")
    real = os.fdopen
    calls = []

    def fdopen(fd, mode):
        calls.append(fd)
        f = real(fd, mode)
        if len(calls) == 3:                      # json, junit, then markdown: the disk is full
            f.close()
            raise OSError(errno.ENOSPC, "No space left on device")
        return f
    monkeypatch.setattr(_experiment.os, "fdopen", fdopen)
    code = main(["verify", "min2023.disc.g9-typo", "--jobs", "1", "--json", str(old_json),
                 "--junit", str(tmp_path / "r.xml"), "--markdown", str(old_md)])
    assert code == 2 and "No space left on device" in capsys.readouterr().err
    assert old_json.read_text() == "old" and old_md.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.md"]
