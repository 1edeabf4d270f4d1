"""``flowcert laws MODEL``: every independent conservation law of a model's gradient flow, and
whether the set found is proved complete (:func:`flowcert.theory.conservation_laws`)."""
from __future__ import annotations

import inspect
import json
import sys

from ._experiment import UsageError

__all__ = ["arguments", "law_models", "run"]

#: the command's options, by the keyword a model function takes
_OPTIONS = {"widths": "--widths", "input_dim": "--input-dim", "neurons": "--neurons", "epsilon": "--epsilon"}


def law_models() -> dict:
    """Model functions by name: flowcert's (``flowcert.theory.MODELS``), then the papers' (``Paper.models``)."""
    from flowcert.theory import MODELS

    from ._registry import papers, resolve
    out = dict(MODELS)
    for p in papers().values():
        for name, where in p.models:
            out.setdefault(name, where)
    return {k: (resolve(v) if isinstance(v, str) else v) for k, v in sorted(out.items())}


def _epilog() -> str:
    lines = ["models (options they take):"]
    for name, f in law_models().items():
        opts = [_OPTIONS.get(k, f"--{k}") for k in inspect.signature(f).parameters]
        doc = (inspect.getdoc(f) or "").split("\n\n")[0].replace("\n", " ")
        lines.append(f"  {name:<14} {' '.join(opts) or '(no options)'}")
        lines.append(f"      {doc[:150]}")
    lines.append("\nexit status: 0 complete (proved), 3 not proved complete (laws may be missing), 2 bad input")
    return "\n".join(lines)


def arguments(s) -> None:
    s.add_argument("model", metavar="MODEL", help="the model (listed below)")
    s.add_argument("--widths", metavar="H0,H1,...,HL", help="linear: the layer widths, e.g. 1,2,2,1")
    s.add_argument("--input-dim", dest="input_dim", metavar="D", help="relu: the input dimension")
    s.add_argument("--neurons", metavar="M", help="relu, shallow: the number of neurons")
    s.add_argument("--epsilon", metavar="E", help="shallow: the slow timescale, a rational such as 1/50 (default 1/50)")
    s.add_argument("--degree", type=int, metavar="K", default=None,
                   help="search polynomial laws of every degree up to K, listing the dependent ones too "
                        "(default: degrees up to 4, and only while the set is not proved complete)")
    s.add_argument("--seed", type=int, default=0, metavar="N", help="the integer point's seed (default 0)")
    s.add_argument("--json", action="store_true", help="the result as JSON")


def _value(key: str, text: str):
    import sympy as sp
    opt = _OPTIONS.get(key, f"--{key}")
    try:
        if key == "widths":
            out = tuple(int(x) for x in text.split(","))
            if len(out) < 3 or min(out) < 1:
                raise ValueError
            return out
        if key == "epsilon":
            v = sp.Rational(text)
            if v <= 0:
                raise ValueError
            return v
        v = int(text)
        if v < 1:
            raise ValueError
        return v
    except (ValueError, TypeError, ZeroDivisionError):
        want = {"widths": "at least three positive integers separated by commas, e.g. 1,2,2,1",
                "epsilon": "a positive rational such as 1/50 or 0.02"}.get(key, "a positive integer")
        raise UsageError(f"{opt} {text!r}: expected {want}") from None


def _model(a):
    models = law_models()
    if a.model not in models:
        raise UsageError(f"laws: unknown model {a.model!r}; models: {', '.join(models)}")
    f = models[a.model]
    params = inspect.signature(f).parameters
    given = {k: getattr(a, k) for k in _OPTIONS if getattr(a, k, None) is not None}
    extra = [_OPTIONS[k] for k in given if k not in params]
    if extra:
        raise UsageError(f"laws {a.model}: {', '.join(extra)} does not apply (it takes "
                         f"{', '.join(_OPTIONS.get(k, k) for k in params) or 'no options'})")
    missing = [_OPTIONS.get(k, k) for k, p in params.items() if p.default is p.empty and k not in given]
    if missing:
        raise UsageError(f"laws {a.model}: {', '.join(missing)} is required")
    try:
        return f(**{k: _value(k, v) for k, v in given.items()})
    except ValueError as e:
        raise UsageError(f"laws {a.model}: {e}") from None


def run(a) -> int:
    from flowcert.theory import conservation_laws, latex
    if a.degree is not None and not 0 <= a.degree <= 12:
        raise UsageError(f"--degree {a.degree}: expected an integer from 0 to 12")
    model = _model(a)
    res = conservation_laws(model, degree=4 if a.degree is None else a.degree, exhaust=a.degree is not None,
                            seed=a.seed)
    if a.json:
        print(json.dumps(res.to_json(), indent=1))
        return 0 if res.complete else 3
    t = res.trace
    print(f"{model.name}: D = {res.parameters} parameters")
    print(f"trace of the Lie algebra at an integer point: dimension {t.dim} (by bracket level: "
          f"{', '.join(map(str, t.levels))}; {t.stopped})")
    bound = "exactly" if res.complete else "at most"
    print(f"independent conservation laws: {bound} {res.independent_laws} (D - trace dimension)")
    print(f"found, functionally independent (Jacobian rank {res.found_rank} at the point):")
    for w in res.found:
        print(f"  [{w.family}, degree {w.degree}] {latex(w.shown())}")
    if not res.found:
        print("  (none)")
    if res.dependent:
        print(f"found, functions of those: {len(res.dependent)}")
        for w in res.dependent[:5]:
            print(f"  [{w.family}, degree {w.degree}] {latex(w.shown())[:110]}")
        if len(res.dependent) > 5:
            print(f"  ... ({len(res.dependent) - 5} more; --json lists them)")
    if res.rejected:
        print(f"candidates not conserved: {', '.join(res.rejected)}")
    print(res.verdict() + f" ({res.seconds:.2f} s)")
    sys.stdout.flush()
    return 0 if res.complete else 3
