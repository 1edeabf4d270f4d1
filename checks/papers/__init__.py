"""flowcert's own papers, one plugin per folder.

Each folder is a paper plugin like any a researcher writes: its ``__init__`` defines ``paper``, a
:class:`flowcert.checks.Paper`, which ``pyproject.toml`` declares in the ``flowcert.papers``
entry-point group; its modules hold the claims, experiments and sweeps. The framework in
:mod:`flowcert.checks` knows none of them by name.
"""
__all__: list[str] = []
