"""The examples in flowcert's docstrings run, module by module, as installed (``flowcert.*``).

Collected here rather than with ``--doctest-modules``: pytest would import the source files under
their folder names (``checks._claim``), a second copy beside ``flowcert.checks._claim``."""
import doctest
import importlib
import pkgutil

import pytest

import flowcert


def _modules():
    names = ["flowcert"]
    for sub in ("theory", "numerics", "checks"):
        pkg = importlib.import_module(f"flowcert.{sub}")
        names.append(pkg.__name__)
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
    return names


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    mod = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(mod, name, globs=dict(vars(mod))):
        runner.run(test)
    res = runner.summarize(verbose=False)
    assert res.failed == 0, f"{res.failed} of {res.attempted} examples failed in {name} (output above)"


def test_the_docstring_examples_are_found():
    finder = doctest.DocTestFinder(exclude_empty=True)
    n = sum(len(t.examples) for name in _modules() for t in finder.find(importlib.import_module(name), name))
    assert n >= 20 and flowcert.__doc__.count(">>>") >= 2
