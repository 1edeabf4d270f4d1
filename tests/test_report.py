"""Reports: JUnit XML valid against the schema with every status; Markdown; --config = --set."""
import json
from pathlib import Path

import pytest

from flowcert.checks._report import junit, markdown
from flowcert.checks._runner import Result
from flowcert.checks.cli import main

xmlschema = pytest.importorskip("xmlschema")
SCHEMA = Path(__file__).parent / "data" / "junit.xsd"


def _results():
    mk = lambda s, **kw: Result(f"p.s.{s}", "p", "paper", f"statement <{s}> & more", s, **kw)
    return [mk("pass", examples=3, worst_margin=0.5, seconds=0.1),
            mk("fail", examples=2, worst_margin=-1.0, detail="lhs < rhs", counterexample={"__seq__": []}),
            mk("skipped", detail="needs heyoka"), mk("uncertified", detail="ball contains 0")]


def test_junit_valid_and_counts(tmp_path):
    xml = junit(_results(), {"profile": "quick", "seed": 0, "dps": 30})
    p = tmp_path / "r.xml"
    p.write_text(xml)
    xmlschema.XMLSchema(str(SCHEMA)).validate(str(p))
    assert 'failures="1"' in xml and 'skipped="2"' in xml and "&lt;fail&gt;" in xml


def test_schema_rejects_a_malformed_report(tmp_path):
    p = tmp_path / "bad.xml"
    p.write_text('<testsuites><testsuite name="x" tests="-1" failures="0" errors="0"/></testsuites>')
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        xmlschema.XMLSchema(str(SCHEMA)).validate(str(p))


def test_markdown_has_table_latex_and_figures():
    md = markdown(_results(), {"profile": "quick", "seed": 0, "dps": 30}, {"p.s.pass": r"x \ge 0"}, ["a.png"])
    assert "| `p.s.fail` | paper | **fail** |" in md and r"x \ge 0" in md and "![a.png](a.png)" in md


def test_verify_writes_junit_and_markdown(tmp_path, capsys):
    j, m = tmp_path / "r.xml", tmp_path / "r.md"
    assert main(["verify", "min2023.disc.g9-typo", "--junit", str(j), "--markdown", str(m)]) == 0
    xmlschema.XMLSchema(str(SCHEMA)).validate(str(j))
    assert "min2023.disc.g9-typo" in m.read_text()


def test_config_is_equivalent_to_set(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("h1 = 30\nh2 = 30\nsamples = 4\nschemes = ['fan_out']\n")
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["reproduce", "min2023-boxplot", "--out", str(a), "--config", str(cfg)]) == 0
    assert main(["reproduce", "min2023-boxplot", "--out", str(b), "--set", "h1=30", "--set", "h2=30",
                 "--set", "samples=4", "--set", "schemes=['fan_out']"]) == 0
    ra = json.loads((a / "min2023-boxplot.json").read_text())
    rb = json.loads((b / "min2023-boxplot.json").read_text())
    assert ra["params"] == rb["params"] and ra["params"]["h1"] == 30


@pytest.mark.parametrize("text, needle", [("h1 = [", "not valid TOML"), ("foo = 1", "unknown key"),
                                          ("[table]\nx = 1", "tables")])
def test_bad_config(tmp_path, capsys, text, needle):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    assert main(["reproduce", "min2023-boxplot", "--config", str(cfg)]) == 2
    assert needle in capsys.readouterr().err
