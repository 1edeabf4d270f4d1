"""Reports of a verification run: JSON, JUnit XML (for CI systems) and Markdown."""
from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from typing import Iterable

from ._runner import Result


def _fmt(x) -> str:
    if x is None:
        return "-"
    if x == math.inf:
        return "exact"
    return f"{x:.3g}"


def junit(results: Iterable[Result], meta: dict) -> str:
    """JUnit XML: one ``testsuite`` per paper, one ``testcase`` per claim.

    ``fail`` becomes ``<failure>``, ``skipped`` and ``uncertified`` become ``<skipped>`` (not
    shown, which is not false), with the reason in ``message``.
    """
    results = list(results)
    root = ET.Element("testsuites", name="flowcert", tests=str(len(results)),
                      failures=str(sum(r.status == "fail" for r in results)), errors="0",
                      time=f"{sum(r.seconds for r in results):.3f}")
    for paper in dict.fromkeys(r.paper for r in results):
        rs = [r for r in results if r.paper == paper]
        suite = ET.SubElement(root, "testsuite", name=paper, tests=str(len(rs)),
                              failures=str(sum(r.status == "fail" for r in rs)), errors="0",
                              skipped=str(sum(r.status in ("skipped", "uncertified") for r in rs)),
                              time=f"{sum(r.seconds for r in rs):.3f}")
        props = ET.SubElement(suite, "properties")
        for k in ("profile", "seed", "dps"):
            ET.SubElement(props, "property", name=k, value=str(meta.get(k, "")))
        for r in rs:
            case = ET.SubElement(suite, "testcase", classname=paper, name=r.id, time=f"{r.seconds:.3f}")
            if r.status == "fail":
                f = ET.SubElement(case, "failure", message=r.detail[:500], type="ClaimRefuted")
                f.text = r.detail + (f"\ncounterexample: {r.counterexample}" if r.counterexample else "")
            elif r.status in ("skipped", "uncertified"):
                ET.SubElement(case, "skipped", message=f"{r.status}: {r.detail}"[:500])
            out = ET.SubElement(case, "system-out")
            out.text = (f"status={r.status} examples={r.examples} worst_margin={_fmt(r.worst_margin)} "
                        f"precision={r.precision} provenance={r.provenance}"
                        f"{' discrepancy=documents-a-mistake-of-the-paper' if r.discrepancy else ''}\n{r.statement}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def markdown(results: Iterable[Result], meta: dict, latex: dict | None = None,
             figures: Iterable[str] = ()) -> str:
    """A report: summary, the claim table, each claim's statement and LaTeX, any figures."""
    results = list(results)
    latex = latex or {}
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "certified", "fail", "uncertified", "skipped")}
    lines = ["# flowcert verification report", "",
             f"Profile `{meta.get('profile')}`, seed {meta.get('seed')}, {meta.get('dps')} digits for "
             f"high-precision claims; {len(results)} claims: "
             + ", ".join(f"{v} {k}" for k, v in counts.items() if v) + ".", "",
             "| claim | provenance | status | examples | worst margin | precision | seconds |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        flag = " (discrepancy)" if r.discrepancy else ""
        lines.append(f"| `{r.id}`{flag} | {r.provenance} | **{r.status}** | {r.examples} | "
                     f"{_fmt(r.worst_margin)} | {r.precision} | {r.seconds:.2f} |")
    lines.append("")
    for r in results:
        lines += [f"## `{r.id}`", "", f"[{r.provenance}] {r.statement}", ""]
        if r.id in latex:
            lines += ["$$", latex[r.id], "$$", ""]
        lines += [f"Status **{r.status}**: {r.detail}" if r.detail else f"Status **{r.status}**.", ""]
        if r.counterexample is not None:
            lines += ["Counterexample (replay with `flowcert verify "
                      f"{r.id} --replay '<json>'`):", "", "```json", json.dumps(r.counterexample), "```", ""]
    figures = list(figures)
    if figures:
        lines += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    return "\n".join(lines)
