"""Paper notation SymPy has no object for: spectra, norms, time derivatives, chains of relations.

Each is a small SymPy class that prints itself (``_latex``) in the package's one printer
configuration, and that :mod:`flowcert.theory._parse` reads back. A formula built from them is
still an exact SymPy object: it can be compared, substituted and simplified like any other.

>>> import sympy as sp
>>> W = sp.MatrixSymbol("W", 2, 2)
>>> latex(Chain(sp.Le(0, Eig(W.T * W, MIN)), sp.Le(Eig(W.T * W, MIN), Frob(W)**2)))
'0 \\\\leq \\\\lambda_{\\\\min}(W^{T} W) \\\\leq \\\\left\\\\|W\\\\right\\\\|_{F}^{2}'
"""
from __future__ import annotations

import sympy as sp

__all__ = ["Approx", "Chain", "Ddt", "DiagOf", "eq", "Eig", "Frob", "func", "ge", "Grad", "gt", "latex", "le",
           "Listing", "lt", "mat", "MIN", "ne", "Norm", "Partial", "Sing", "sym", "Tends", "Wedge"]

#: the index of ``lambda_min`` / ``sigma_min``
MIN = sp.Symbol(r"\min")
_t = sp.Symbol("t")


def sym(name: str, **assumptions) -> sp.Symbol:
    """A symbol whose name is its LaTeX (``sym(r"\\mathcal{L}^{*}")``)."""
    return sp.Symbol(name, **assumptions)


def func(name: str):
    """An undefined function printed ``name(args)`` (``func(r"\\mathcal{L}")(t)``)."""
    return sp.Function(name)


def mat(name: str, rows=2, cols=None) -> sp.MatrixSymbol:
    """A matrix symbol printed as ``name``; the shape only matters for explicit comparison."""
    return sp.MatrixSymbol(name, rows, rows if cols is None else cols)


def _unevaluated(cls):
    def make(lhs, rhs):
        return cls(lhs, rhs, evaluate=False)
    make.__name__ = cls.__name__.lower()
    make.__doc__ = f"``{cls.__name__}(lhs, rhs)`` as written: never decided to True/False on sight."
    return make


eq, ne, le, lt, ge, gt = (_unevaluated(c) for c in (sp.Eq, sp.Ne, sp.Le, sp.Lt, sp.Ge, sp.Gt))


def _p(printer, x) -> str:
    return printer._print(x)


def paren(text: str) -> str:
    """``(text)``, with ``\\left( \\right)`` only where the content is tall: after a name, ``\\left(``
    adds a space TeX's own ``(`` does not (``f(x)``, not ``f (x)``)."""
    tall = any(k in text for k in (r"\frac", r"\sum", r"\prod", r"\int", r"\sqrt", r"\begin", r"\left"))
    return r"\left(%s\right)" % text if tall else f"({text})"


def _pow(s: str, exp) -> str:
    return f"{s}^{{{exp}}}" if exp else s


class _Indexed(sp.Function):
    """``name_i(M)``: a spectral quantity of a matrix, by index."""

    nargs = 2
    name = ""

    def _latex(self, printer, exp=None):
        m, i = self.args
        return _pow(r"%s_{%s}%s" % (self.name, _p(printer, i), paren(_p(printer, m))), exp)


class Eig(_Indexed):
    """``lambda_i(M)``: the i-th largest eigenvalue of a symmetric matrix (``i = MIN``: the least)."""

    name = r"\lambda"
    is_real = True


class Sing(_Indexed):
    """``sigma_i(M)``: the i-th largest singular value."""

    name = r"\sigma"
    is_nonnegative = True


class Frob(sp.Function):
    """``||M||_F``; ``doit()`` gives ``sqrt(tr(M^T M))``."""

    nargs = 1
    is_nonnegative = True

    def doit(self, **hints):
        m = self.args[0].doit(**hints) if hints.get("deep", True) else self.args[0]
        return sp.sqrt(sp.Trace(m.T * m).doit())

    def _latex(self, printer, exp=None):
        return _pow(r"\left\|%s\right\|_{F}" % _p(printer, self.args[0]), exp)


class Norm(sp.Function):
    """``||x||`` (spectral norm of a matrix, Euclidean of a vector); ``Norm(x, 2)`` prints ``||x||_2``."""

    nargs = (1, 2)
    is_nonnegative = True

    def _latex(self, printer, exp=None):
        s = r"\left\|%s\right\|" % _p(printer, self.args[0])
        if len(self.args) == 2:
            s += "_{%s}" % _p(printer, self.args[1])
        return _pow(s, exp)


class Ddt(sp.Function):
    """``dx/dt`` (or ``dx/d tau`` with a second argument): a time derivative along a flow."""

    nargs = (1, 2)

    @property
    def var(self):
        return self.args[1] if len(self.args) == 2 else _t

    def _latex(self, printer, exp=None):
        x, v = self.args[0], _p(printer, self.var)
        if x.is_Symbol or isinstance(x, sp.MatrixSymbol):
            return r"\frac{d %s}{d %s}" % (_p(printer, x), v)
        return r"\frac{d}{d %s} \left(%s\right)" % (v, _p(printer, x))


class Partial(sp.Function):
    """``partial f / partial x``."""

    nargs = 2

    def _latex(self, printer, exp=None):
        f, x = self.args
        return _pow(r"\frac{\partial %s}{\partial %s}" % (_p(printer, f), _p(printer, x)), exp)


class Grad(sp.Function):
    """``nabla_x f``."""

    nargs = 2

    def _latex(self, printer, exp=None):
        f, x = self.args
        s = r"\nabla_{%s} %s" % (_p(printer, x), _p(printer, f))
        return r"\left(%s\right)^{%s}" % (s, exp) if exp else s


class Wedge(sp.MatrixExpr):
    """``A wedge_r B = diag{min{lambda_i(A), lambda_{i+1-r}(B)}}`` (min2023 Definition 2): a matrix
    of ``A``'s shape."""

    def __new__(cls, a, b, r):
        return sp.Basic.__new__(cls, a, b, sp.sympify(r))

    @property
    def shape(self):
        return self.args[0].shape

    def _latex(self, printer):
        a, b, r = self.args
        return r"%s \wedge_{%s} %s" % (_p(printer, a), _p(printer, r), _p(printer, b))


class DiagOf(sp.MatrixExpr):
    """``diag{x_i}_{i=1}^{h}``: the h x h diagonal matrix of a sequence."""

    def __new__(cls, x, i, h):
        return sp.Basic.__new__(cls, sp.sympify(x), sp.sympify(i), sp.sympify(h))

    @property
    def shape(self):
        return (self.args[2], self.args[2])

    def _latex(self, printer):
        x, i, h = self.args
        return r"\operatorname{diag}\left\{%s\right\}_{%s=1}^{%s}" % (_p(printer, x), _p(printer, i), _p(printer, h))


class _Rel(sp.Basic):
    """A two-sided relation SymPy lacks; never evaluates."""

    op = ""

    def __new__(cls, lhs, rhs):
        return super().__new__(cls, sp.sympify(lhs), sp.sympify(rhs))

    @property
    def lhs(self):
        return self.args[0]

    @property
    def rhs(self):
        return self.args[1]

    def _latex(self, printer):
        return f"{_p(printer, self.lhs)} {self.op} {_p(printer, self.rhs)}"


class Approx(_Rel):
    """``a ~ b``: an estimate, of the order of magnitude the claim says."""

    op = r"\approx"


class Tends(_Rel):
    """``a -> b``: a limit along the flow (``t -> infinity`` unless the claim says otherwise)."""

    op = r"\to"


_RELS = (sp.core.relational.Relational, _Rel)


class Chain(sp.Basic):
    """``a <= b <= c``: relations where each right side is the next left side, printed once."""

    def __new__(cls, *rels):
        for r, s in zip(rels, rels[1:]):
            if r.rhs != s.lhs:
                raise ValueError(f"Chain: {r} and {s} do not share a side")
        return super().__new__(cls, *rels)

    def _latex(self, printer):
        out = _p(printer, self.args[0].lhs)
        for r in self.args:
            out += f" {_op(printer, r)} {_p(printer, r.rhs)}"
        return out


def _op(printer, rel) -> str:
    if isinstance(rel, _Rel):
        return rel.op
    return {"==": "=", "<=": r"\leq", ">=": r"\geq", "<": "<", ">": ">", "!=": r"\neq"}[rel.rel_op]


class Listing(sp.Basic):
    """Several formulas shown together, ``a = b,\\quad c = d``; each is compared on its own.
    A listing inside a listing is flattened (it prints the same)."""

    def __new__(cls, *items):
        flat = [a for x in items for a in (x.args if isinstance(x, Listing) else (x,))]
        return super().__new__(cls, *flat)

    def _latex(self, printer):
        return r",\quad ".join(_p(printer, a) for a in self.args)


def latex(expr, names=None) -> str:
    from ._printing import latex as _latex
    return _latex(expr, names)
