"""LaTeX export: the document compiles, formulas parse back to their sources, output is stable."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import sympy as sp

from flowcert.checks.cli import main
from flowcert.checks.export import Formula, check_roundtrip, document, roundtrip

GOLDEN = Path(__file__).parent / "golden"


def _norm(tex: str) -> str:
    return re.sub(r"\s+", " ", tex).strip()


def test_document_compiles(tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("no pdflatex on this machine (Debian: texlive-latex-base)")
    (tmp_path / "all.tex").write_text(document())
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "all.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:]
    assert (tmp_path / "all.pdf").stat().st_size > 10_000


def test_roundtrip_no_formula_differs():
    rows = roundtrip()
    differs = [(f.rhs or f.latex, note) for f, v, note in rows if v == "differs"]
    assert not differs
    assert sum(v == "equal" for _, v, _ in rows) >= 1


def test_roundtrip_catches_a_wrong_formula():
    pytest.importorskip("lark")
    a, t = sp.symbols("alpha t", positive=True)
    good = Formula("x", "", expr=sp.exp(-a * t), rhs=r"e^{- \alpha t}")
    bad = Formula("x", "", expr=sp.exp(-a * t), rhs=r"e^{- 2 \alpha t}")
    assert [v for _, v, _ in check_roundtrip([good, bad])] == ["equal", "differs"]


def test_no_parenthesised_half():
    assert r"\left(\frac{1}{2}\right)" not in document()


@pytest.mark.parametrize("paper", ["min2023", "chen2022", "marion2023"])
def test_golden(paper):
    tex = _norm(document([paper]))
    path = GOLDEN / f"{paper}.tex"
    if os.environ.get("FLOWCERT_UPDATE_GOLDEN"):
        path.write_text(tex + "\n")
    assert tex == path.read_text().strip(), "LaTeX output changed; FLOWCERT_UPDATE_GOLDEN=1 to accept"


def test_claim_snippet_and_errors(capsys):
    assert main(["latex", "--claim", "min2023.thm2.scalar-example"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("% min2023.thm2.scalar-example") and r"\begin{equation}" in out
    assert "documentclass" not in out
    assert main(["latex", "--claim", "nope.x"]) == 2
    assert main(["latex", "nopaper"]) == 2
