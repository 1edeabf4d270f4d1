"""One LaTeX printer configuration for the whole package."""
from __future__ import annotations

import sympy as sp
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


class _Printer(LatexPrinter):
    """SymPy's printer, except that a scalar factor of a matrix product is printed bare.

    SymPy prints ``(1/2)*W`` as ``\\left(\\frac{1}{2}\\right) W``; we print ``\\frac{1}{2} W``.
    """

    def _print_MatMul(self, expr):
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
        if coeff.could_extract_minus_sign():
            return "- " + self._print(-coeff) + " " + body
        return self._print(coeff) + " " + body


def latex(expr, names: dict | None = None) -> str:
    """LaTeX of a SymPy object (or a string, returned as is) with the package-wide settings.

    ``names`` maps symbols to their LaTeX (e.g. spectral quantities such as ``\\lambda_n(D)``).

    >>> import sympy as sp
    >>> W1, Y = sp.MatrixSymbol("W1", 2, 2), sp.MatrixSymbol("Y", 2, 2)
    >>> latex(W1.T * W1)
    'W_{1}^{T} W_{1}'
    >>> latex(sp.Rational(1, 2) * W1 - Y)
    '\\\\frac{1}{2} W_{1} - Y'
    """
    if isinstance(expr, str):
        return expr
    settings = dict(LATEX_SETTINGS)
    if names:
        settings["symbol_names"] = dict(names)
    return _Printer(settings).doprint(expr)
