"""Read back the LaTeX subset :func:`flowcert.theory.latex` prints, and compare it with its source.

SymPy's own LaTeX parser reads a narrower grammar (no matrices, norms, spectra, chains, ``cases``
with conditions); this one reads exactly what the package prints. Names of symbols, matrices and
functions are resolved through a table of their printed forms, longest first, so that
``\\lambda_{n}`` or ``W^{*}`` are read as one name; everything else -- operators, fractions,
powers, transposes, relations, their order -- is read from the text.

>>> import sympy as sp
>>> x, y = sp.symbols("x y")
>>> parse(r"\\frac{x}{2} \\leq y^{2}", [x, y])
x/2 <= y**2
"""
from __future__ import annotations

import re

import sympy as sp
from sympy.core.function import AppliedUndef

from . import _notation as N
from ._printing import head, latex

__all__ = ["ParseError", "compare", "names_of", "parse", "unlayout"]


class ParseError(ValueError):
    """The text is outside the printed subset (or refers to a name the table lacks)."""


_SPACE = re.compile(r"(?:\s|\\,|\\;|\\!|\\:|\\ )+")
_RELS = [(r"\leq", sp.Le), (r"\le", sp.Le), (r"\geq", sp.Ge), (r"\ge", sp.Ge), (r"\neq", sp.Ne),
         (r"\ne", sp.Ne), (r"\approx", N.Approx), (r"\to", N.Tends), ("=", sp.Eq), ("<", sp.Lt), (">", sp.Gt)]
_STOP = ("+", "-", "=", "<", ">", ",", ")", "}", "]", "&", "!", "^", r"\right", r"\end", r"\leq", r"\le",
         r"\geq", r"\ge", r"\neq", r"\ne", r"\approx", r"\to", r"\quad", r"\wedge", r"\vee", r"\\", r"\text")


def names_of(expr) -> dict[str, object]:
    """Printed form -> object for every name in ``expr`` (symbols, matrices, function heads; a
    function and a symbol may share a name, as ``\\mathcal{L}`` and ``\\mathcal{L}(t)``: the head
    is then stored under the name followed by ``(``)."""
    out = {}
    for a in sp.sympify(expr).atoms(sp.Symbol, sp.MatrixSymbol, sp.Identity):
        text = latex(a)
        if out.get(text, a) != a and not isinstance(a, sp.Identity):
            # two objects print alike: the text cannot say which is meant
            raise ParseError(f"two different names print as {text}: {sp.srepr(out[text])}, {sp.srepr(a)}")
        out[text] = a
    for f in sp.sympify(expr).atoms(AppliedUndef):
        out[head(f.func) + "("] = f.func
    return out


def unlayout(text: str) -> str:
    """Drop the line-breaking layout the export adds (``split``, ``&``, ``\\\\``)."""
    if r"\begin{split}" not in text:
        return text
    text = text.replace(r"\begin{split}", "").replace(r"\end{split}", "")
    text = re.sub(r",\s*\\\\\s*&\\quad", r",\\quad ", text)  # a list broken after its comma
    text = re.sub(r"\\\\\s*&\\quad", " ", text)
    return text.replace("&", "")


class _Parser:
    def __init__(self, text: str, names: dict):
        self.s = text
        self.i = 0
        self.names = sorted(((k, v) for k, v in names.items() if not k.endswith("(")), key=lambda kv: -len(kv[0]))
        self.heads = sorted(((k[:-1], v) for k, v in names.items() if k.endswith("(")), key=lambda kv: -len(kv[0]))

    # -- scanning ---------------------------------------------------------------------------
    def ws(self):
        m = _SPACE.match(self.s, self.i)
        if m:
            self.i = m.end()

    def peek(self, tok: str) -> bool:
        self.ws()
        if not self.s.startswith(tok, self.i):
            return False
        end = self.i + len(tok)
        # a command is not a prefix of a longer one (\le vs \left)
        return not (tok[-1].isalpha() and tok[0] == "\\" and end < len(self.s) and self.s[end].isalpha())

    def take(self, tok: str) -> bool:
        if self.peek(tok):
            self.i += len(tok)
            return True
        return False

    def need(self, tok: str):
        if not self.take(tok):
            raise ParseError(f"expected {tok!r} at {self.i}: ...{self.s[self.i:self.i + 30]!r}")

    def done(self) -> bool:
        self.ws()
        return self.i >= len(self.s)

    def group(self):
        """``{expr}`` or a single character/command."""
        self.ws()
        if self.take("{"):
            e = self.listing()
            self.need("}")
            return e
        m = re.compile(r"\\[a-zA-Z]+|\d|[a-zA-Z]").match(self.s, self.i)
        if not m:
            raise ParseError(f"expected a group at {self.i}")
        save = self.i
        try:
            return self.primary()
        except ParseError:
            self.i = save
            raise

    # -- grammar ----------------------------------------------------------------------------
    def top(self):
        e = self.listing()
        if not self.done():
            raise ParseError(f"unread text at {self.i}: {self.s[self.i:self.i + 40]!r}")
        return e

    def listing(self):
        items = [self.chain()]
        while self.take(r",\quad"):
            items.append(self.chain())
        return items[0] if len(items) == 1 else N.Listing(*items)

    def relop(self):
        for tok, cls in _RELS:
            if self.take(tok):
                return cls
        return None

    def chain(self):
        left = self.logic()
        rels = []
        while (cls := self.relop()) is not None:
            right = self.logic()
            rels.append(_rel(cls, left, right))
            left = right
        if not rels:
            return left
        return rels[0] if len(rels) == 1 else N.Chain(*rels)

    def logic(self):
        e = self.expr()
        return e

    def expr(self):
        neg = self.take("-")
        terms = [self.term()]
        if neg:
            terms[0] = -terms[0]
        while True:
            if self.take("+"):
                terms.append(self.term())
            elif self.take("-"):
                terms.append(-self.term())
            else:
                break
        return _add(terms)

    def term(self):
        out = self.factor()
        while True:
            self.ws()
            if self.take(r"\cdot") or self.take(r"\times"):
                out = out * self.factor()
            elif self.take(r"\otimes"):
                out = sp.KroneckerProduct(out, self.factor())
            elif self.peek(r"\wedge_"):
                self.take(r"\wedge_")
                r = self.group()
                out = N.Wedge(out, self.factor(), r)
            elif self.starts_factor():
                save = self.i
                try:
                    f = self.factor()
                except ParseError:
                    self.i = save
                    break
                out = out * f
            else:
                break
        return out

    def starts_factor(self) -> bool:
        self.ws()
        if self.i >= len(self.s):
            return False
        save = self.i
        stop = any(self.peek(t) for t in _STOP)
        self.i = save
        return not stop

    def factor(self):
        base = self.primary()
        while True:
            if self.take("^"):
                self.ws()
                if self.s.startswith("{T}", self.i):
                    self.i += 3
                    base = base.T
                else:
                    base = _pow(base, self.group())
            elif self.take("!"):
                base = sp.factorial(base)
            else:
                return base

    def primary(self):
        self.ws()
        s, i = self.s, self.i
        if i >= len(s):
            raise ParseError("unexpected end")
        for text, f in self.heads:
            if s.startswith(text + r"\left(", i) or s.startswith(text + "(", i):
                self.i = i + len(text)
                return f(*self.args())
        for text, obj in self.names:
            nxt = s[i + len(text):i + len(text) + 1]
            # a name is not the start of a longer word, nor of a longer subscripted name
            if s.startswith(text, i) and nxt != "_" and not (text[-1].isalpha() and nxt.isalpha()):
                self.i = i + len(text)
                return obj
        m = re.compile(r"\d+(\.\d+)?").match(s, i)
        if m:
            self.i = m.end()
            return sp.Float(m.group(), 15) if m.group(1) else sp.Integer(m.group())
        for tok, fn in _PRIMARIES:
            if self.take(tok):
                return fn(self)
        if s.startswith("e^", i):
            self.i += 1
            self.need("^")
            return sp.exp(self.group())
        if s[i] in "ei" and not s[i + 1:i + 2].isalpha():  # SymPy prints E and I as e and i
            self.i += 1
            return sp.E if s[i] == "e" else sp.I
        if self.take("{"):
            e = self.listing()
            self.need("}")
            return e
        if self.take("("):
            e = self.listing()
            self.need(")")
            return e
        raise ParseError(f"cannot read at {i}: {s[i:i + 30]!r}")

    def args(self):
        close = r"\right)" if self.take(r"\left(") else (self.need("("), ")")[1]
        out = [self.listing()]
        while self.take(","):
            out.append(self.listing())
        self.need(close)
        return out

    def variable(self):
        """A name from the table, or a bare letter (the ``t`` of ``d/dt`` is in no formula's table)."""
        save = self.i
        try:
            return self.primary()
        except ParseError:
            self.i = save
        self.ws()
        m = re.compile(r"\\[a-zA-Z]+|[a-zA-Z]").match(self.s, self.i)
        if not m:
            raise ParseError(f"expected a variable at {self.i}")
        self.i = m.end()
        return sp.Symbol(m.group())

    # -- constructs -------------------------------------------------------------------------
    def paren(self):
        items = [self.listing()]
        while self.take(","):
            items.append(self.listing())
        self.need(r"\right)")
        return items[0] if len(items) == 1 else sp.Tuple(*items)

    def frac(self):
        save = self.i
        self.ws()
        m = re.compile(r"\{d(?=[\s}])").match(self.s, self.i)
        if m:
            self.i = m.end()
            if self.take("}"):  # \frac{d}{d t} \left(x\right)
                self.need("{")
                self.need("d")
                var = self.variable()
                self.need("}")
                self.need(r"\left(")
                return N.Ddt(self.paren(), *_var(var))
            x = self.primary()
            if self.take("}") and self.take("{") and self.take("d"):
                var = self.variable()
                self.need("}")
                return N.Ddt(x, *_var(var))
            self.i = save
        if self.take(r"{\partial"):
            f = self.primary()
            self.need("}")
            self.need(r"{\partial")
            x = self.primary()
            self.need("}")
            return N.Partial(f, x)
        num = self.group()
        den = self.group()
        return num / den

    def sqrt(self):
        if self.take("["):
            n = self.expr()
            self.need("]")
            return sp.root(self.group(), n)
        return sp.sqrt(self.group())

    def norm(self):
        e = self.listing()
        self.need(r"\right\|")
        if self.take("_"):
            self.ws()
            if self.s.startswith("{F}", self.i):
                self.i += 3
                return N.Frob(e)
            return N.Norm(e, self.group())
        return N.Norm(e)

    def absval(self):
        e = self.listing()
        self.need(r"\right|")
        return sp.Abs(e)

    def spectral(self, cls):
        self.need("_")
        idx = self.group()
        m, = self.args()
        return cls(m, idx)

    def minmax(self, cls):
        a = self.args()
        return cls(*a, evaluate=False) if len(a) > 1 else a[0]

    def trace(self):
        self.need(r"\left(")
        return sp.Trace(self.paren())

    def diag(self):
        self.need(r"\left\{")
        x = self.listing()
        self.need(r"\right\}")
        self.need("_")
        self.need("{")
        i = self.primary()
        self.need("=")
        self.need("1")
        self.need("}")
        self.need("^")
        return N.DiagOf(x, i, self.group())

    def log(self):
        if self.take("{"):
            self.need(r"\left(")
            e = self.paren()
            self.need("}")
            return sp.log(e)
        self.need(r"\left(")
        return sp.log(self.paren())

    def bigop(self, cls):
        self.need("_")
        self.need("{")
        var = self.primary()
        self.need("=")
        lo = self.expr()
        self.need("}")
        self.need("^")
        hi = self.group()
        return cls(self.term(), (var, lo, hi))

    def integral(self):
        self.take(r"\limits")
        self.need("_")
        lo = self.group()
        self.need("^")
        hi = self.group()
        body = self.expr()
        self.ws()
        if not self.take("d"):
            raise ParseError(f"expected the integration variable at {self.i}")
        var = self.primary()
        return sp.Integral(body, (var, lo, hi))

    def cases(self):
        pieces = []
        while True:
            e = self.expr()
            self.need("&")
            if self.take(r"\text{otherwise}"):
                pieces.append((e, sp.true))
            else:
                self.need(r"\text{for}")
                self.take(r"\:")
                pieces.append((e, self.condition()))
            if self.take(r"\end{cases}"):
                return sp.Piecewise(*pieces)
            self.need(r"\\")

    def condition(self):
        c = self.chain()
        while True:
            if self.take(r"\wedge"):
                c = sp.And(c, self.chain())
            elif self.take(r"\vee"):
                c = sp.Or(c, self.chain())
            else:
                return c

    def grad(self):
        self.need("_")
        x = self.group()
        return N.Grad(self.factor(), x)


def _var(v):
    return () if v == sp.Symbol("t") else (v,)


_PRIMARIES = [
    (r"\left(", _Parser.paren),
    (r"\left\|", _Parser.norm),
    (r"\left|", _Parser.absval),
    (r"\frac", _Parser.frac),
    (r"\sqrt", _Parser.sqrt),
    (r"\lambda", lambda p: p.spectral(N.Eig)),
    (r"\sigma", lambda p: p.spectral(N.Sing)),
    (r"\max", lambda p: p.minmax(sp.Max)),
    (r"\min", lambda p: p.minmax(sp.Min)),
    (r"\operatorname{tr}", _Parser.trace),
    (r"\operatorname{diag}", _Parser.diag),
    (r"\log", _Parser.log),
    (r"\int", _Parser.integral),
    (r"\sum", lambda p: p.bigop(sp.Sum)),
    (r"\prod", lambda p: p.bigop(sp.Product)),
    (r"\begin{cases}", _Parser.cases),
    (r"\nabla", _Parser.grad),
    (r"\infty", lambda p: sp.oo),
    (r"\theta", lambda p: sp.Heaviside(p.args()[0])),
    (r"\pi", lambda p: sp.pi),
]


def _rel(cls, a, b):
    if cls in (sp.Eq, sp.Ne, sp.Le, sp.Lt, sp.Ge, sp.Gt):
        return cls(a, b, evaluate=False)
    return cls(a, b)


def _add(terms):
    if len(terms) == 1:
        return terms[0]
    if any(getattr(t, "is_Matrix", False) for t in terms):
        return sp.MatAdd(*terms)
    return sp.Add(*terms)


def _pow(base, e):
    if getattr(base, "is_Matrix", False):
        return sp.MatPow(base, e)
    return base**e


def parse(text: str, names) -> object:
    """The SymPy object ``text`` denotes; ``names``: the objects whose printed names it may use
    (an expression, an iterable of objects, or a dict printed form -> object)."""
    if not isinstance(names, dict):
        table = {}
        for obj in (names if isinstance(names, (list, tuple, set)) else [names]):
            table.update(names_of(obj) if isinstance(obj, sp.Basic) and not obj.is_Atom else {latex(obj): obj})
        names = table
    try:
        return _Parser(unlayout(text), names).top()
    except ParseError:
        raise
    except (TypeError, ValueError, AttributeError, sp.SympifyError) as e:
        raise ParseError(f"{type(e).__name__}: {e}") from e


# ---------------------------------------------------------------------------------------------
# comparison


def compare(parsed, source) -> str:
    """``""`` if ``parsed`` and ``source`` are the same formula (relation by relation, sides equal
    by exact simplification; matrices entry by entry), else what differs."""
    if isinstance(source, (N.Chain, N.Listing)) or isinstance(parsed, (N.Chain, N.Listing)):
        if type(parsed) is not type(source) or len(parsed.args) != len(source.args):
            return f"shape: {type(parsed).__name__} of {len(parsed.args)} vs {type(source).__name__}"
        for a, b in zip(parsed.args, source.args):
            if d := compare(a, b):
                return d
        return ""
    rel = (sp.core.relational.Relational, N._Rel)
    if isinstance(source, rel) or isinstance(parsed, rel):
        if type(parsed) is not type(source):
            return f"relation: {type(parsed).__name__} printed, {type(source).__name__} derived"
        return compare(parsed.lhs, source.lhs) or compare(parsed.rhs, source.rhs)
    return "" if _same(parsed, source) else f"{sp.sstr(parsed)[:60]} vs {sp.sstr(source)[:60]}"


def _zero(x) -> bool:
    return x == 0 or isinstance(x, sp.ZeroMatrix)


def _same(a, b) -> bool:
    if a == b or (_zero(a) and _zero(b)):
        return True
    a, b = sp.sympify(a), sp.sympify(b)
    mats = (a.atoms(sp.MatrixSymbol) | b.atoms(sp.MatrixSymbol))
    if mats or getattr(a, "is_Matrix", False) or getattr(b, "is_Matrix", False):
        return _same_explicit(a, b, mats)
    d = a - b
    if sp.expand(d) == 0:
        return True
    if d.has(sp.Piecewise):
        d = sp.piecewise_fold(d)
    return sp.simplify(d) == 0


def _same_explicit(a, b, mats) -> bool:
    """Matrix formulas, entry by entry on symbolic entries, every width set to 3: identities of
    different sizes print alike (``\\mathbb{I}``), and a transpose or order error still changes
    entries of square matrices."""
    dims = set()
    for m in mats | a.atoms(sp.Identity) | b.atoms(sp.Identity):
        dims |= set().union(*(sp.sympify(x).free_symbols for x in m.shape))
    size = {d: 3 for d in dims}
    explicit = {}

    def concrete(x):
        x = x.xreplace(explicit).xreplace({I: sp.Identity(int(I.shape[0].subs(size)))
                                           for I in x.atoms(sp.Identity)})
        x = x.doit() if hasattr(x, "doit") else x
        return x.as_explicit() if getattr(x, "is_Matrix", False) and hasattr(x, "as_explicit") else x

    try:   # a shape that is not a size at the trial dimensions: no explicit check, so not "same"
        for m in mats:
            r, c = (int(sp.sympify(x).subs(size)) for x in m.shape)
            explicit[m] = sp.Matrix(r, c, lambda i, j, m=m: sp.Symbol(f"{m.name}[{i},{j}]"))
        ea, eb = concrete(a), concrete(b)
    except (ValueError, TypeError, sp.ShapeError):
        return False
    if getattr(ea, "is_Matrix", False) != getattr(eb, "is_Matrix", False):
        return False
    if getattr(ea, "is_Matrix", False):
        return ea.shape == eb.shape and all(sp.expand(x) == 0 for x in (ea - eb))
    return sp.expand(ea - eb) == 0 or sp.simplify(ea - eb) == 0
