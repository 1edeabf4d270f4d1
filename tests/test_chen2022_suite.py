"""`flowcert verify chen2022` on the quick profile, end to end: every claim passes, each carries its
provenance, and the reconstructed theorem is never labelled [paper]."""
import json

from flowcert.checks.cli import main


def test_verify_chen2022_quick_passes(tmp_path, capsys):
    path = tmp_path / "report.json"
    code = main(["verify", "chen2022", "--json", str(path)])
    capsys.readouterr()
    report = json.loads(path.read_text())
    failed = [c["id"] + ": " + c["detail"] for c in report["claims"] if c["status"] != "pass"]
    assert code == 0, failed
    ids = {c["id"]: c for c in report["claims"]}
    assert len(ids) >= 20
    assert ids["chen2022.s6.limit-selection"]["provenance"] == "derived"
    assert ids["chen2022.s9.widths"]["provenance"] == "paper"
    assert "inferred" in ids["chen2022.s6.limit-selection"]["statement"]


def test_latex_has_the_chen2022_section(capsys):
    assert main(["latex", "chen2022"]) == 0
    tex = capsys.readouterr().out
    assert r"\section{chen2022" in tex and r"\frac{d \sigma}{d t} = 6 \sigma^{\frac{5}{3}}" in tex
