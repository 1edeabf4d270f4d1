"""The documentation builds with warnings as errors, and the examples on its pages run."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"

pytest.importorskip("sphinx", reason="the docs extra (pip install -e '.[docs]') builds the documentation")


@pytest.mark.parametrize("builder", ["html", "doctest"])
def test_docs_build_without_warnings(builder, tmp_path):
    r = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", builder,
                        "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / builder)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    if builder == "html":
        html = (tmp_path / "html" / "_generated" / "papers" / "min2023.html").read_text()
        page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))
        assert "min2023.thm2.scalar-example" in page and "flowcert reproduce min2023-boxplot" in page
    else:
        out = (tmp_path / "doctest" / "output.txt").read_text()
        assert "0 failures in tests" in out and " tests" in out
