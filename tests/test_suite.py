"""The package's main job, end to end: `flowcert verify min2023` on the quick profile."""
import json

from flowcert.checks.cli import main


def test_verify_min2023_quick_passes(tmp_path, capsys):
    path = tmp_path / "report.json"
    code = main(["verify", "min2023", "--json", str(path)])
    out = capsys.readouterr().out
    report = json.loads(path.read_text())
    failed = [c["id"] + ": " + c["detail"] for c in report["claims"] if c["status"] not in ("pass", "certified")]
    assert code == 0, failed
    assert not failed
    assert len(report["claims"]) >= 30 and " pass in " in out
    # the box plot's Delta* > 0 is proved in ball arithmetic, not just evaluated
    assert {c["id"]: c["status"] for c in report["claims"]}["min2023.fig1.boxplot"] == "certified"
    # the documented discrepancies are present and flagged
    disc = {c["id"] for c in report["claims"] if c["discrepancy"]}
    assert {"min2023.disc.alpha2-printed", "min2023.disc.appendix-delta-star", "min2023.disc.g9-typo",
            "min2023.disc.lemma3-rectangular"} <= disc
