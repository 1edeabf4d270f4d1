"""Sphinx configuration: flowcert's documentation (``sphinx-build -W -b html docs docs/_build/html``)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

import flowcert  # noqa: E402  (installed: pip install -e '.[docs]')

project = "flowcert"
author = "the flowcert developers"
copyright = "2026, the flowcert developers"
version = release = flowcert.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "flowcert_docs",  # docs/_ext: one page per installed paper plugin, generated at build time
]
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_theme_options = {"description": "verify convergence theory of neural-network training", "fixed_sidebar": True,
                      "page_width": "1100px"}
html_static_path: list[str] = []
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"  # the signatures show them; the rendered hints would repeat SymPy's long names
# Docstring examples are run by tests/test_doctests.py in each module's namespace; the doctest
# builder runs the pages' own `.. doctest::` blocks.
doctest_test_doctest_blocks = ""
suppress_warnings = ["autodoc.import_object"]
