"""The fuzz suite's second half: one regression test (or table) per class of hostile or careless
input found by review (issue #18), beside the generated inputs of ``test_fuzz_cli.py``.

The promise each test holds the CLI to: one line on stderr naming the argument, exit status 2
(70 for flowcert's own bugs, 130 for Ctrl-C), no traceback, nothing partial written and nothing of
the user's touched, no NaN in any output, wall times only in a report's ``timing`` object. Full
and read-only disks are real: a small tmpfs mounted for the test where the machine allows it
(root), skipped with the reason otherwise. No test sends traffic beyond 127.0.0.1 (the silent
scheduler is a socket of the test's own).

Classes: data loss; output paths checked before work; full and read-only disks; links and
streams; unbounded work; tracebacks turned into one line; NaN, warnings and wall times; the
library's entry points.
"""
import errno
import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from flowcert.checks.cli import main

SMALL_BOX = ["min2023-boxplot", "--set", "samples=2", "--set", "h1=5", "--set", "h2=5"]
SMALL_SWEEP = ["min2023-positivity", "--set", "samples=6", "--set", "chunk=3", "--set", "widths=[[5, 5]]",
               "--set", "schemes=['fan_in']"]


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> bool:
    return err.startswith("flowcert: ") and err.count("\n") == 1 and "Traceback" not in err




@pytest.fixture
def disk(tmp_path):
    """``disk(name, full=False, readonly=False)``: a 256 KiB tmpfs of its own under ``tmp_path``,
    filled to the last byte or mounted read-only; unmounted afterwards."""
    mounted = []

    def mount(name: str, full: bool = False, readonly: bool = False) -> Path:
        if shutil.which("mount") is None or os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root and mount(8); a full or read-only disk cannot be made here")
        d = tmp_path / name
        d.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(d)], capture_output=True,
                           text=True)
        if r.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip() or r.returncode}")
        mounted.append(d)
        if full:
            fd = os.open(d / "filler", os.O_WRONLY | os.O_CREAT)
            try:
                while True:
                    os.write(fd, b"\0" * 4096)
            except OSError as e:
                assert e.errno == errno.ENOSPC
            finally:
                os.close(fd)
        if readonly:
            subprocess.run(["mount", "-o", "remount,ro", str(d)], check=True)
        return d
    yield mount
    for d in mounted:
        subprocess.run(["umount", str(d)], capture_output=True)


# -- data loss -------------------------------------------------------------------------------------

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


@pytest.mark.parametrize("experiment", ["chen2022", "marion2023", "marion2023-standard", "marion2023-epsilon-sweep"])
def test_every_experiment_that_saves_no_units_refuses_checkpoint(tmp_path, capsys, experiment):
    ck = tmp_path / "ck"
    code, _, err = run(["reproduce", experiment, "--out", str(tmp_path / "out"), "--checkpoint", str(ck)], capsys)
    assert code == 2 and one_line(err) and "--checkpoint: " in err and "saves no partial work" in err
    assert not ck.exists() and not (tmp_path / "out").exists()


# -- output paths checked before any work ------------------------------------------------------


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


@pytest.mark.parametrize("args, needle", [
    (["reproduce", *SMALL_BOX, "--out", "{d}/o", "--json", "{d}/afile/r.json"], "--json"),
    (["reproduce", *SMALL_BOX, "--out", "{d}/o", "--json", "{d}"], "is a directory"),
    (["reproduce", *SMALL_BOX, "--out", "{d}/afile"], "exists and is not a directory"),
    (["reproduce", *SMALL_BOX, "--out", "{d}/afile/o"], "is not a directory"),
    (["reproduce", *SMALL_BOX, "--out", ""], "empty string"),
    (["reproduce", *SMALL_BOX, "--out", "{d}/o", "--json", ""], "empty string"),
    (["sweep", *SMALL_SWEEP, "--out", "{d}/sw", "--json", "{d}/sw/tasks/x.json"], "inside --out"),
    (["sweep", *SMALL_SWEEP, "--out", "{d}/afile"], "exists and is not a directory"),
    (["sweep", *SMALL_SWEEP, "--out", ""], "empty string"),
    (["latex", "min2023", "-o", "{d}"], "{d}"),
])
def test_bad_output_paths_of_reproduce_and_sweep_are_refused_before_any_work(tmp_path, capsys, args, needle):
    (tmp_path / "afile").write_text("x")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run([x.format(d=tmp_path) for x in args], capsys)
    assert code == 2 and one_line(err) and needle.format(d=tmp_path) in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("out", ["/", "~"])
def test_out_refuses_the_root_and_the_home_directory(tmp_path, capsys, out):
    import os
    code, _, err = run(["reproduce", "min2023-boxplot", "--set", "samples=2", "--set", "h1=5", "--set", "h2=5",
                        "--out", os.path.expanduser(out), "-q"], capsys)
    assert code == 2 and "--out" in err and "give a directory of its own" in err


# -- full and read-only disks ----------------------------------------------------------------------

def test_a_full_disk_under_out_leaves_nothing_and_names_out(disk, capsys):
    full = disk("full", full=True)
    code, out, err = run(["reproduce", *SMALL_BOX, "--out", str(full / "out"), "-q"], capsys)
    assert code == 2 and one_line(err), err
    assert f"--out {full / 'out'}: cannot write" in err and "No space left on device" in err
    assert sorted(p.name for p in full.iterdir()) == ["filler"]       # no figure, no csv, no directory


def test_a_full_disk_for_the_last_report_leaves_the_other_files_unwritten(tmp_path, disk, capsys):
    full = disk("full", full=True)
    code, _, err = run(["reproduce", *SMALL_BOX, "--out", str(tmp_path / "out"), "--json", str(full / "r.json"),
                        "-q"], capsys)
    assert code == 2 and one_line(err) and f"--json {full / 'r.json'}: cannot write" in err
    assert not (tmp_path / "out").exists()                               # the figures: all or none


def test_a_full_disk_in_a_sweep_keeps_the_finished_tasks_only(tmp_path, disk, capsys):
    full = disk("full", full=True)
    out = tmp_path / "sw"
    code, _, err = run(["sweep", *SMALL_SWEEP, "--out", str(out), "--json", str(full / "r.json"), "--jobs", "1",
                        "-q"], capsys)
    assert code == 2 and one_line(err) and "--json" in err
    assert sorted(p.name for p in out.iterdir()) == ["tasks"]           # resumable; no figure, no result
    code, _, err = run(["sweep", *SMALL_SWEEP, "--out", str(out), "--jobs", "1", "-q"], capsys)
    assert code == 0 and (out / "min2023-positivity.json").exists()


@pytest.mark.parametrize("option", ["--json", "--junit", "--markdown"])
def test_a_full_disk_for_a_verify_report_names_its_option(disk, capsys, option):
    full = disk("full", full=True)
    code, _, err = run(["verify", "min2023.disc.g9-typo", "--jobs", "1", option, str(full / "r")], capsys)
    assert code == 2 and one_line(err) and f"{option} {full / 'r'}: cannot write: No space left" in err
    assert sorted(p.name for p in full.iterdir()) == ["filler"]


def test_a_full_device_as_report_names_its_option(capsys):
    if not Path("/dev/full").is_char_device():
        pytest.skip("no /dev/full here")
    code, _, err = run(["verify", "min2023.disc.g9-typo", "--jobs", "1", "--json", "/dev/full"], capsys)
    assert code == 2 and one_line(err) and "--json /dev/full: cannot write: No space left on device" in err
    assert Path("/dev/full").is_char_device()                           # written in place, never replaced


def test_a_full_disk_for_the_checkpoint_names_checkpoint(disk, capsys):
    full = disk("full", full=True)
    code, _, err = run(["verify", "min2023.disc.g9-typo", "--jobs", "1", "--checkpoint", str(full / "ck")],
                       capsys)
    assert code == 2 and one_line(err) and f"--checkpoint {full / 'ck'}: cannot write run.json" in err
    assert sorted(p.name for p in full.iterdir()) == ["filler"]


@pytest.mark.parametrize("argv, needle", [
    (["verify", "min2023.disc.g9-typo", "--json", "{ro}/r.json"], "--json {ro}/r.json: cannot write in {ro}"),
    (["verify", "min2023.disc.g9-typo", "--markdown", "{ro}/sub/r.md"], "--markdown {ro}/sub/r.md: cannot write"),
    (["reproduce", *SMALL_BOX, "--out", "{ro}/out"], "--out {ro}/out: cannot write in {ro}"),
    (["reproduce", *SMALL_BOX, "--out", "{tmp}/out", "--json", "{ro}/r.json"], "--json {ro}/r.json: cannot write"),
    (["sweep", *SMALL_SWEEP, "--out", "{ro}/sw"], "--out {ro}/sw: cannot write in {ro}"),
    (["latex", "min2023", "-o", "{ro}/m.tex"], "{ro}/m.tex"),
])
def test_a_read_only_disk_is_refused_before_any_work(tmp_path, disk, capsys, argv, needle):
    ro = disk("ro", readonly=True)
    fill = {"ro": ro, "tmp": tmp_path}
    code, out, err = run([x.format(**fill) for x in argv], capsys)
    assert code == 2 and one_line(err) and needle.format(**fill) in err, err
    assert "claim " not in out and not (tmp_path / "out").exists()


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


# -- links and streams ----------------------------------------------------------------------------


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


@pytest.mark.parametrize("argv, option", [
    (["verify", "min2023.disc.g9-typo", "--json", "{loop}"], "--json"),
    (["verify", "min2023.disc.g9-typo", "--checkpoint", "{loop}"], "--checkpoint"),
    (["reproduce", *SMALL_BOX, "--out", "{loop}/o"], "--out"),
    (["sweep", *SMALL_SWEEP, "--json", "{loop}", "--out", "{d}/sw"], "--json"),
    (["latex", "min2023", "-o", "{loop}"], "-o"),
    (["flow", "--weights", "{w}", "--target", "{y}", "--t-end", "1", "--out", "{loop}.npz"], "--out"),
])
def test_a_loop_of_links_is_named_not_an_internal_error(tmp_path, capsys, argv, option):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    (tmp_path / "loop.npz").symlink_to(tmp_path / "loop.npz")
    np.savez(tmp_path / "w.npz", W1=np.ones((2, 3)), W2=np.ones((3, 2)))
    np.save(tmp_path / "y.npy", np.ones((2, 2)))
    fill = {"loop": loop, "d": tmp_path, "w": tmp_path / "w.npz", "y": tmp_path / "y.npy"}
    code, out, err = run([x.format(**fill) for x in argv], capsys)
    assert code == 2 and one_line(err) and f"{option} {loop}" in err and "symbolic links" in err, err
    assert loop.is_symlink() and not (tmp_path / "sw").exists()


def test_a_control_character_in_a_path_keeps_the_error_on_one_line(tmp_path, capsys):
    (tmp_path / "a\nb").write_text("a file where a directory is expected")
    code, _, err = run(["reproduce", *SMALL_BOX, "--out", str(tmp_path / "a\nb"), "-q"], capsys)
    assert code == 2 and one_line(err) and "a\\nb: exists and is not a directory" in err


def test_a_stream_that_fails_leaves_the_files_beside_it_unwritten(tmp_path, capsys):
    """A report to a device is written in place (it cannot be staged), and before any staged file
    is renamed: /dev/full failing leaves no figure, table or directory behind."""
    if not Path("/dev/full").is_char_device():
        pytest.skip("no /dev/full here")
    code, _, err = run(["reproduce", *SMALL_BOX, "--out", str(tmp_path / "o"), "--json", "/dev/full", "-q"], capsys)
    assert code == 2 and one_line(err) and "--json /dev/full: cannot write" in err
    assert not (tmp_path / "o").exists()


# -- unbounded work, refused before it starts -------------------------------------------------------


def _npy_bytes(shape, dtype="<f8", data=b""):
    import io
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


@pytest.mark.parametrize("members, needle", [
    ({"W1.npy": _npy_bytes((10 ** 6, 10 ** 6)), "W2.npy": _npy_bytes((10 ** 6, 1))}, "numbers; at most"),
    ([("W1.npy", _npy_bytes((1, 1), data=np.ones(1).tobytes())),
      ("W1.npy", _npy_bytes((1, 1), data=np.zeros(1).tobytes())),
      ("W2.npy", _npy_bytes((1, 1), data=np.ones(1).tobytes()))], "more than once"),
    ({"W1.npy": _npy_bytes((1, 1), "<m8[s]", np.ones(1, "m8[s]").tobytes()),
      "W2.npy": _npy_bytes((1, 1), data=np.ones(1).tobytes())}, "must hold real numbers"),
])
def test_hostile_npz_is_refused_from_its_headers(tmp_path, capsys, members, needle):
    """A header claiming 10^12 numbers (the file is a few bytes), a member stored twice, a
    timedelta64 array: one line naming --weights, exit 2, nothing allocated or guessed."""
    import warnings
    import zipfile
    p = tmp_path / "w.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # zipfile warns about the duplicate name
        with zipfile.ZipFile(p, "w") as zf:
            for name, data in (members.items() if isinstance(members, dict) else members):
                zf.writestr(name, data)
    code, out, err = run(["bound", "two-layer", "--weights", str(p)], capsys)
    assert code == 2 and out == "" and needle in err and "--weights" in err and err.count("\n") == 1


def test_the_entry_limit_can_be_raised(tmp_path, capsys, monkeypatch):
    p = tmp_path / "w.npz"
    np.savez(p, W1=np.ones((3, 4)), W2=np.ones((4, 3)))
    monkeypatch.setenv("FLOWCERT_MAX_ENTRIES", "20")
    code, _, err = run(["bound", "lambda-min-T", "--weights", str(p)], capsys)
    assert code == 2 and "24 numbers; at most 20" in err and "FLOWCERT_MAX_ENTRIES" in err
    monkeypatch.setenv("FLOWCERT_MAX_ENTRIES", "24")
    assert run(["bound", "lambda-min-T", "--weights", str(p)], capsys)[0] == 0


@pytest.mark.parametrize("shapes, command, needle", [
    ([(2, 2)] * 65, "lambda-min-T", "65 layers; at most 64"),
    ([(40, 3), (3, 30)], "lambda-min-T", "order n m = 40 x 30 = 1200"),
])
def test_work_beyond_the_documented_limits_is_refused_at_once(tmp_path, capsys, shapes, command, needle):
    p = tmp_path / "w.npz"
    np.savez(p, **{f"W{i + 1}": np.ones(s) for i, s in enumerate(shapes)})
    code, out, err = run(["bound", command, "--weights", str(p)], capsys)
    assert code == 2 and out == "" and needle in err


@pytest.mark.parametrize("args, needle", [
    (["min2023-boxplot", "--set", "samples=1000000000000"], "eigen-solve operations; at most"),
    (["min2023-boxplot", "--set", "h1=100000", "--set", "h2=100000"], "h1: 100000; at most 4000"),
    (["marion2023", "--set", "epsilon=1e-300"], "SGD steps; at most"),
    (["marion2023-2d", "--set", "repeats=1000000000"], "at most 1e+14"),
    (["chen2022", "--set", "steps=1000000000000000"], "multiply-adds; at most"),
    (["chen2022", "--set", "widths=[100000,1,100000]"], "at most 4000"),
    (["min2023-gd", "--set", "steps_n1=1e15"], "multiply-adds; at most"),
    (["min2023-gd", "--set", "widths=[[100000, 5]]"], "at most 4000"),
    (["marion2023-epsilon-sweep", "--set", "repeats=1e9"], "SGD steps; at most"),
    (["marion2023", "--set", "checkpoints=1e11"], "checkpoints: 100000000000; at most"),
    (["chen2022", "--set", "a=1e309"], "expected a scale in [1/100, 100]"),
])
def test_reproduce_refuses_unbounded_work_before_it_starts(tmp_path, capsys, args, needle):
    code, out, err = run(["reproduce", *args, "--out", str(tmp_path / "o"), "-q"], capsys)
    assert code == 2 and needle in err and err.count("\n") == 1 and not (tmp_path / "o").exists()
    assert "FLOWCERT_NO_LIMITS=1 lifts" in err


@pytest.mark.parametrize("args, needle", [
    (["min2023-positivity", "--set", "samples=1e12"], "eigen-solve operations; at most"),
    (["min2023-positivity", "--set", "samples=1e8", "--set", "chunk=1", "--set", "widths=[[5, 5]]"],
     "tasks; at most 1e+06"),
    (["min2023-positivity", "--set", "widths=[[5000, 5]]"], "at most 2000"),
    (["chen2022-basins", "--set", "samples=1e9", "--set", "chunk=1"], "tasks; at most 1e+06"),
    (["marion2023-epsilon", "--set", "seeds=1e9"], "tasks; at most 1e+06"),
    (["marion2023-epsilon", "--set", "epsilons=[1e-300]"], "steps at eps = 1e-300; at most"),
    (["chen2022-basins", "--set", "a=1e400"], "expected a scale in [1/100, 100]"),
])
def test_sweeps_refuse_unbounded_work_before_listing_their_tasks(tmp_path, capsys, args, needle):
    code, out, err = run(["sweep", *args, "--out", str(tmp_path / "o"), "-q"], capsys)
    assert code == 2 and one_line(err) and needle in err and not (tmp_path / "o").exists()


def test_the_work_limits_are_in_the_help_and_can_be_lifted(monkeypatch, capsys):
    """A limit catches a slip (1e15 typed for 1e5); a user who means it sets FLOWCERT_NO_LIMITS."""
    from flowcert.checks._experiment import EXPERIMENTS, UsageError
    from flowcert.checks.papers.min2023 import experiments as E
    assert main(["reproduce", "min2023-boxplot", "--help"]) == 0
    assert "limits, refused before the run" in capsys.readouterr().out
    monkeypatch.setattr(E, "MAX_BOX_WORK", 10)       # so that a quick draw is "too large"
    small = {"samples": 2, "h1": 5, "h2": 5}
    with pytest.raises(UsageError, match="at most 1e\\+01; FLOWCERT_NO_LIMITS=1 lifts the limit"):
        EXPERIMENTS["min2023-boxplot"].params(small)
    monkeypatch.setenv("FLOWCERT_NO_LIMITS", "1")
    assert EXPERIMENTS["min2023-boxplot"].params(small)["samples"] == 2


@pytest.mark.parametrize("argv, needle", [
    (["flow", "--weights", "{w}", "--target", "{y}", "--t-end", "1e-5000"], "exponent -5000 out of range"),
    (["flow", "--weights", "{w}", "--target", "{y}", "--t-end", "1" + "0" * 5000], "at most 100 characters"),
    (["flow", "--weights", "{w}", "--target", "{y}", "--t-end", "1", "--samples", "1000000000"], "at most 100000"),
    (["reproduce", "chen2022", "--set", "a=1e5000", "--out", "{d}/o"], "exponent 5000 out of range"),
    (["reproduce", "chen2022", "--set", "a=" + "[" * 500, "--out", "{d}/o"], "at most 100 characters"),
])
def test_huge_numbers_are_one_short_line(weights, tmp_path, capsys, argv, needle):
    """Python refuses integers of more than 4300 digits with a traceback; a text that long, a huge
    exponent or an unbounded count is refused first, and the message quotes it cut short."""
    y = tmp_path / "y.npy"
    np.save(y, np.zeros((2, 3)))
    code, out, err = run([x.format(w=weights[0], y=y, d=tmp_path) for x in argv], capsys)
    assert code == 2 and needle in err and err.count("\n") == 1 and len(err) < 300


def test_a_scheduler_that_accepts_and_never_answers_is_given_up_on_time(tmp_path, capsys, monkeypatch):
    """A peer on 127.0.0.1 that accepts the connection and says nothing: one line naming
    --scheduler within the deadline, exit 2, no traceback later."""
    pytest.importorskip("distributed")
    import socket
    import threading
    import time
    from flowcert.checks import _parallel
    monkeypatch.setattr(_parallel, "CONNECT_TIMEOUT", 2)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    held = []
    threading.Thread(target=lambda: held.append(srv.accept()), daemon=True).start()
    try:
        t0 = time.perf_counter()
        code = main(["verify", "min2023.disc.g9-typo", "--scheduler", f"tcp://127.0.0.1:{srv.getsockname()[1]}"])
        took = time.perf_counter() - t0
    finally:
        srv.close()
    err = capsys.readouterr().err
    assert code == 2 and "--scheduler" in err and "cannot connect" in err and err.count("\n") == 1
    assert took < 2 + 2 + 5     # the deadline, and a margin for a loaded machine


def test_a_replayed_chain_of_400_layers_is_refused_at_once(capsys):
    """``--replay`` with a 400-layer chain: refused naming the depth limit, not hours of SymPy."""
    import time
    from flowcert.checks._runner import encode
    ws = [np.ones((1, 1))] * 400
    ex = json.dumps(encode((ws, np.ones((1, 1)))))
    t0 = time.perf_counter()
    code, out, err = run(["verify", "min2023.lemma1.identity", "--replay", ex], capsys)
    assert code == 2 and one_line(err) and "--replay" in err and "depth" in err, err
    assert time.perf_counter() - t0 < 30        # at once: the limit is checked before any derivation


# -- tracebacks turned into one line -------------------------------------------------------------


@pytest.mark.parametrize("command", [["bound", "two-layer"], ["flow", "--t-end", "1", "--target", "{y}"]])
def test_a_npy_file_as_weights_is_one_line_naming_the_format(tmp_path, capsys, command):
    one = tmp_path / "W.npy"
    np.save(one, np.eye(2))
    code, out, err = run([x.format(y=one) for x in command] + ["--weights", str(one)], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--weights" in err and ".npz of W1, W2" in err


@pytest.mark.parametrize("command", [["bound", "two-layer"], ["flow", "--t-end", "1", "--target", "{y}"]])
def test_dps_beyond_the_limit_is_refused_by_the_parser(weights, tmp_path, capsys, command):
    y = tmp_path / "y.npy"
    np.save(y, np.zeros((2, 3)))
    assert main([x.format(y=y) for x in command] + ["--weights", str(weights[0]), "--dps", "200000"]) == 2
    assert "at most 10000 digits" in capsys.readouterr().err


def test_an_unexpected_error_is_one_line_exit_70_and_debug_shows_it(monkeypatch, capsys):
    from flowcert.checks import cli
    def broken(a):
        raise ZeroDivisionError("planted")
    monkeypatch.setitem(cli.COMMANDS, "list", broken)
    code, out, err = run(["list"], capsys)
    assert code == 70 and out == "" and err.count("\n") == 1
    assert "internal error: ZeroDivisionError: planted" in err and "--debug" in err
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "list"])


def test_out_of_memory_is_one_line_exit_2(monkeypatch, capsys):
    from flowcert.checks import cli
    def hungry(a):
        raise MemoryError("Unable to allocate 7.28 TiB")
    monkeypatch.setitem(cli.COMMANDS, "list", hungry)
    code, out, err = run(["list"], capsys)
    assert code == 2 and "out of memory" in err and err.count("\n") == 1


def test_ctrl_c_while_the_cli_loads_is_one_line_exit_130(monkeypatch, capsys):
    import builtins
    import sys as _sys
    from flowcert import _command
    real = builtins.__import__

    def interrupted(name, *args, **kwargs):
        if name == "flowcert.checks.cli":
            raise KeyboardInterrupt
        return real(name, *args, **kwargs)
    monkeypatch.delitem(_sys.modules, "flowcert.checks.cli")
    monkeypatch.setattr(builtins, "__import__", interrupted)
    assert _command.main(["list"]) == 130
    assert capsys.readouterr().err == "flowcert: interrupted\n"


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


# -- NaN, warnings and wall times --------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    [*SMALL_BOX[:1], "--set", "samples=2", "--set", "h1=5", "--set", "h2=5", "--set", "n=5"],   # Delta* = 0
    ["marion2023-epsilon-sweep", "--set", "h=1e-2", "--set", "tau_max=0.05", "--set", "repeats=2"],  # P < 100
])
def test_valid_small_runs_finish(tmp_path, capsys, args):
    """Small settings a user tries first: a median of zeros, runs shorter than the 100-point
    recording grid. Each once crashed (a log of 0, an empty record)."""
    code, _, err = run(["reproduce", *args, "--out", str(tmp_path / "o"), "-q"], capsys)
    assert code == 0, err
    for f in (tmp_path / "o").glob("*.json"):
        assert "NaN" not in f.read_text()


@pytest.mark.parametrize("argv, code", [
    (["bound", "two-layer", "--weights", "{big}"], 0),
    (["bound", "two-layer", "--weights", "{big}", "--certify"], 0),
    (["bound", "two-layer", "--weights", "{big}", "--dps", "40"], 0),
    (["bound", "lambda-min-T", "--weights", "{big}"], 0),
    (["bound", "two-layer", "--weights", "{tiny}", "--certify"], 3),
    (["flow", "--weights", "{big}", "--target", "{y}", "--t-end", "1"], 2),      # blows up: said, not warned
    (["reproduce", "min2023-gd", "--set", "lr=10", "--set", "steps_n1=30", "--set", "widths=[[2, 2]]",
      "--set", "steps_n5=30", "--set", "record_every=10", "--out", "{d}/gd", "-q"], 0),                   # diverges: reported
])
def test_valid_inputs_near_the_limits_of_float64_print_no_warnings_and_no_nan(tmp_path, capsys, argv, code):
    """Weights near 1e150 (products overflow float64), near 1e-170 (they underflow), a flow that
    blows up and a descent that diverges: each is reported, in words or as an enclosure, never
    as numpy's RuntimeWarnings on stderr or a nan in the output."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 4)), rng.normal(size=(4, 3))
    np.savez(tmp_path / "big.npz", W1=a * 1e150, W2=b * 1e150)
    np.savez(tmp_path / "tiny.npz", W1=a * 1e-170, W2=b * 1e-170)
    np.save(tmp_path / "y.npy", rng.normal(size=(2, 3)))
    fill = {"big": tmp_path / "big.npz", "tiny": tmp_path / "tiny.npz", "y": tmp_path / "y.npy", "d": tmp_path}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)       # a warning would now be an exit 70
        got, out, err = run([str(x).format(**fill) for x in argv], capsys)
    assert got == code, err
    assert "Warning" not in err and "nan" not in out.lower() and (code != 2 or one_line(err))
    for f in (tmp_path / "gd").glob("*.csv"):
        assert "nan" not in f.read_text().lower()


def test_replay_of_an_input_with_nan_is_refused_not_a_refutation(capsys):
    nan = '{"__seq__": [{"__array__": [[NaN]], "dtype": "float64"}, {"__array__": [[0.0]], "dtype": "float64"}], ' \
          '"tuple": false}'
    code, out, err = run(["verify", "min2023.thm1.delta-le-lambda-min", "--replay", nan], capsys)
    assert code == 2 and out == "" and "NaN or infinity" in err and err.count("\n") == 1
    code, out, err = run(["verify", "min2023.thm1.delta-le-lambda-min", "--replay", nan.replace("NaN", "0.5")],
                         capsys)
    assert code == 0 and "holds=True" in out


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
    assert (tmp_path / "a" / "runs.csv").read_bytes() == (tmp_path / "b" / "runs.csv").read_bytes()


def test_csv_cells_are_never_nan():
    from flowcert.checks._experiment import csv_number
    assert [csv_number(x) for x in (0.1, 2, float("nan"), float("inf"), -float("inf"))] == ["0.1", "2.0", "", "", ""]


# -- the library's entry points ----------------------------------------------------------------------

def _library_cases():
    from flowcert import checks, theory
    from flowcert.numerics import eigenvalues, sample_weights, singular_values
    from flowcert.numerics._piecewise import step_function
    g = np.random.default_rng(0)
    return [
        (lambda: sample_weights("fan_in", (2, 2, 2), rng=42), TypeError, "rng: expected a numpy.random.Generator"),
        (lambda: sample_weights("gaussian", (2, 2, 2), g, scale=float("nan")), ValueError, "scale: expected"),
        (lambda: sample_weights("bogus", (2, 2, 2), g), ValueError, "bogus"),
        (lambda: eigenvalues([[float("nan")]]), ValueError, "eigenvalues: expected finite entries"),
        (lambda: eigenvalues(np.array([[1 + 1j]])), TypeError, "eigenvalues: expected real entries"),
        (lambda: eigenvalues(np.ones((2, 3))), ValueError, "eigenvalues: expected a square matrix"),
        (lambda: singular_values(np.zeros((2, 2, 2))), ValueError, "singular_values: expected a 2-D matrix"),
        (lambda: singular_values(np.array([[1j, 2]])), TypeError, "singular_values: expected real entries"),
        (lambda: step_function([0, 0.5, 1], [0.7, 0.3], [0, 1, 2]), ValueError, "positions: expected strictly"),
        (lambda: theory.LinearNetwork(10 ** 6), ValueError, "depth: expected an integer in [2, 200]"),
        (lambda: checks.select("zz-no-such"), ValueError, "no such paper or claim"),
    ]


@pytest.mark.parametrize("k", range(11))
def test_library_entry_points_name_the_bad_argument(k):
    call, kind, needle = _library_cases()[k]
    with pytest.raises(kind) as e:
        call()
    assert needle in str(e.value)


def test_select_takes_a_paper_name_whole():
    """``checks.select("min2023")``: that paper's claims, not its characters'."""
    from flowcert import checks
    got = checks.select("min2023")
    assert got and {c.paper for c in got} == {"min2023"}
    assert [c.id for c in got] == [c.id for c in checks.select(["min2023"])]
