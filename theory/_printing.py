"""One LaTeX printer configuration for the whole package.

It reads like the papers: a sum opens with a positive term where it has one (``W_1^T W_1 -
W_2 W_2^T``, not ``- W_2 W_2^T + W_1^T W_1``), ``tr(M^T M)`` is the squared Frobenius norm, a rational factor of a
norm, trace, sum or integral stands in front of it (``\\frac{1}{2} \\|Y - W\\|_F^2``), and a named
function is applied as ``\\mathcal{L}(t)``. :mod:`flowcert.theory._parse` reads this subset back.
"""
from __future__ import annotations

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

#: Every LaTeX string flowcert emits goes through these settings (golden files depend on them).
LATEX_SETTINGS = dict(
    mat_symbol_style="plain",
    mul_symbol=None,
    fold_short_frac=False,
    long_frac_ratio=None,
    root_notation=True,
)


def _negative(term) -> bool:
    if isinstance(term, sp.MatMul):  # (-lambda) W: the sign sits in the scalar factor
        return bool(sp.Mul(*[a for a in term.args if not getattr(a, "is_Matrix", False)]).could_extract_minus_sign())
    return bool(term.could_extract_minus_sign())


def gram_of(m):
    """``A`` if ``m`` is ``A^T A`` (up to how SymPy distributes the transpose), else None."""
    if not isinstance(m, sp.MatMul) or len(m.args) != 2:
        return None
    a, b = m.args
    if getattr(a, "is_Matrix", False) and getattr(b, "is_Matrix", False) and \
            sp.transpose(b).doit() == sp.sympify(a).doit():
        return b
    return None


_BIG = (sp.Trace, sp.Integral, sp.Sum, sp.Product)


class _Printer(LatexPrinter):
    def _as_ordered_terms(self, expr, order=None):
        # SymPy's order, except that a sum does not open with a minus sign when it has a positive
        # term: that term moves to the front (W_1^T W_1 - W_2 W_2^T, 2/N - 1)
        terms = list(super()._as_ordered_terms(expr, order=order))
        if terms and _negative(terms[0]):
            first = next((k for k, t in enumerate(terms) if not _negative(t)), None)
            if first is not None:
                terms.insert(0, terms.pop(first))
        return terms

    def _print_Add(self, expr, order=None):
        return " ".join(self.terms(expr))

    def terms(self, expr) -> list[str]:
        out = []
        for k, term in enumerate(self._as_ordered_terms(expr)):
            sign = ""
            if k:
                sign = "+ "
                if _negative(term):
                    sign, term = "- ", -term
            tex = self._print(term)
            if self._needs_add_brackets(term):
                tex = r"\left(%s\right)" % tex
            out.append(sign + tex)
        return out

    def _print_MatMul(self, expr):
        # SymPy prints (1/2)*W as \left(\frac{1}{2}\right) W; a scalar factor is printed bare
        scalars = [a for a in expr.args if not getattr(a, "is_Matrix", False)]
        mats = [a for a in expr.args if getattr(a, "is_Matrix", False)]
        if not scalars or not mats:
            return super()._print_MatMul(expr)
        coeff = sp.Mul(*scalars)
        if len(mats) > 1:
            body = super()._print_MatMul(sp.MatMul(*mats))
        else:
            body = self.parenthesize(mats[0], PRECEDENCE["Mul"], False)
        if coeff == 1:
            return body
        if coeff == -1:
            return "- " + body
        if _negative(coeff):
            return "- " + self._print(-coeff) + " " + body
        tex = self._print(coeff)
        return (r"\left(%s\right)" % tex if isinstance(coeff, sp.Add) else tex) + " " + body

    def _print_Mul(self, expr):
        coeff, rest = expr.as_coeff_Mul()
        if coeff.is_Rational and not coeff.is_Integer and isinstance(rest, _BIG + (sp.Pow,)) \
                and (not isinstance(rest, sp.Pow) or isinstance(rest.base, _BIG + (sp.Function,))):
            sign = "- " if coeff < 0 else ""
            c = abs(coeff)
            return f"{sign}\\frac{{{c.p}}}{{{c.q}}} {self._print(rest)}"
        return super()._print_Mul(expr)

    def _print_Pow(self, expr, *args, **kwargs):
        b, e = expr.args
        if b.is_Integer and b > 0 and e.is_Integer and e < 0:  # 2^{-52}, left as written
            return "%s^{%s}" % (self._print(b), self._print(e))
        return super()._print_Pow(expr, *args, **kwargs)

    def _print_Sum(self, expr):
        # papers write a double sum as two sums, the outer limits first, not as one \substack
        if len(expr.limits) == 1:
            return super()._print_Sum(expr)
        inner = sp.Sum(expr.function, expr.limits[0])
        return r"\sum_{%s=%s}^{%s} " % tuple(self._print(v) for v in expr.limits[-1]) + self._print(
            sp.Sum(inner, *expr.limits[1:-1]) if len(expr.limits) > 2 else inner)

    def _print_Integral(self, expr):
        # papers set definite integrals with side limits: \int_{a}^{b}, not SymPy's \int\limits
        return super()._print_Integral(expr).replace(r"\int\limits", r"\int")

    def _print_Trace(self, expr):
        a = gram_of(expr.arg)
        if a is not None:
            return r"\left\|%s\right\|_{F}^{2}" % self._print(a)
        return r"\operatorname{tr}\left(%s\right)" % self._print(expr.arg)

    def _print_Function(self, expr, exp=None):
        if isinstance(expr, AppliedUndef):
            name = head(expr.func)
            from ._notation import paren
            s = name + paren(", ".join(self._print(a) for a in expr.args))
            return f"{s}^{{{exp}}}" if exp else s
        return super()._print_Function(expr, exp)

    def _print_Max(self, expr, exp=None):
        return self._minmax(r"\max", expr, exp)

    def _print_Min(self, expr, exp=None):
        return self._minmax(r"\min", expr, exp)

    def _minmax(self, name, expr, exp):
        # SymPy keeps the arguments as a set; the papers write the constant last: max(x, 0)
        args = sorted(expr.args, key=lambda a: bool(a.is_number))
        from ._notation import paren
        s = name + paren(", ".join(self._print(a) for a in args))
        return f"{s}^{{{exp}}}" if exp else s


def head(func) -> str:
    """How the name of an undefined function is printed (``\\mathcal{L}`` of ``\\mathcal{L}(t)``)."""
    return _Printer(dict(LATEX_SETTINGS))._deal_with_super_sub(func.__name__)


def add_terms(expr) -> list[str]:
    """The terms of a sum as :func:`latex` prints it, each after the first with its sign
    (``["a", "- b", "+ c"]``): where a long formula may break."""
    return _Printer(dict(LATEX_SETTINGS)).terms(expr)


def latex(expr, names: dict | None = None) -> str:
    """LaTeX of a SymPy object with the package-wide settings.

    ``names`` maps symbols to their LaTeX; a symbol whose name is LaTeX (``\\lambda_{n}``) needs none.

    >>> import sympy as sp
    >>> W1, Y = sp.MatrixSymbol("W1", 2, 2), sp.MatrixSymbol("Y", 2, 2)
    >>> latex(W1.T * W1)
    'W_{1}^{T} W_{1}'
    >>> latex(sp.Rational(1, 2) * W1 - Y)
    '\\\\frac{1}{2} W_{1} - Y'
    >>> latex(sp.Trace((Y - W1).T * (Y - W1)) / 2)
    '\\\\frac{1}{2} \\\\left\\\\|Y - W_{1}\\\\right\\\\|_{F}^{2}'
    """
    if isinstance(expr, str):
        raise TypeError("latex: expected a SymPy object; formulas are printed, not typed")
    settings = dict(LATEX_SETTINGS)
    if names:
        settings["symbol_names"] = dict(names)
    return _Printer(settings).doprint(expr)
