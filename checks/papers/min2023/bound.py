"""``flowcert bound``: read weights from a file, validate them, evaluate a bound at a precision."""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

import mpmath
import numpy as np

from flowcert import theory as th
from flowcert.numerics import Evaluator, workdps

from flowcert.checks._experiment import UsageError

__all__ = ["evaluate_bound", "load_target", "load_weights", "main", "NAMES", "unimodal_index"]

NAMES = ("two-layer", "three-layer", "deep", "lambda-min-T")


#: the most numbers read from a weights or target file (80 MB of float64; a file's headers are
#: checked against it before anything is read): ``FLOWCERT_MAX_ENTRIES`` raises it
MAX_ENTRIES = 10_000_000
#: the most arrays in a weights file (layers, and anything else saved beside them)
MAX_MEMBERS = 1000
#: the most layers the commands take: the symbolic flow and bounds grow with the depth (64
#: layers of 2 x 2 cost ~5 s for lambda-min-T, 200 layers ~90 s)
MAX_LAYERS = 64
#: the largest order n m of Lemma 1's operator T that lambda-min-T eigen-solves (its cost grows as
#: (n m)^3 at the requested digits)
MAX_T_ORDER = 1000


def _max_entries() -> int:
    import os
    v = os.environ.get("FLOWCERT_MAX_ENTRIES", "")
    return int(v) if v.isdigit() and int(v) > 0 else MAX_ENTRIES


def _npy_header(f):
    """``(shape, dtype)`` from an open ``.npy`` stream's header, nothing else read; None for a
    header format newer than numpy's public readers (np.load then reads and checks it)."""
    read = {(1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0}.get(np.lib.format.read_magic(f))
    if read is None:
        return None
    shape, _, dtype = read(f)
    return tuple(shape), dtype


def _check_npz_headers(p: Path, path) -> None:
    """Refuse, from the zip directory and the arrays' headers alone, what would exhaust memory or
    silently pick one of two arrays: duplicate or too many members, too many numbers, a dtype
    that is not a real number (timedelta64 passes numpy's ``number`` test)."""
    try:
        with zipfile.ZipFile(p) as zf:
            names = zf.namelist()
            if len(names) > MAX_MEMBERS:
                raise UsageError(f"--weights {path}: {len(names)} arrays; at most {MAX_MEMBERS}")
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise UsageError(f"--weights {path}: holds {', '.join(dup)} more than once; which to use is ambiguous")
            total = 0
            for name in names:
                with zf.open(name) as f:
                    header = _npy_header(f)
                if header is None:
                    continue
                shape, dtype = header
                total += int(np.prod(shape, dtype=object))
                if dtype.kind not in "iuf":
                    raise UsageError(f"--weights {path}: {name.removesuffix('.npy')} must hold real numbers, "
                                     f"got dtype {dtype}")
            if total > _max_entries():
                raise UsageError(f"--weights {path}: {total:,} numbers; at most {_max_entries():,} are read "
                                 "(set FLOWCERT_MAX_ENTRIES to allow more)")
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise UsageError(f"--weights {path}: not a readable .npz file ({e})") from None


def load_weights(path) -> list[np.ndarray]:
    """``W1 .. WL`` from an npz file, checked: 2-D, finite, real, shapes that chain, L >= 2."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--weights {path}: {'is a directory; expected' if p.is_dir() else 'no such file; expected'} "
                         "an .npz of W1, W2, ...")
    if zipfile.is_zipfile(p):
        _check_npz_headers(p, path)
    try:
        z = np.load(p, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise UsageError(f"--weights {path}: not a readable .npz file ({e})") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        # the likeliest mistake: one array saved with numpy.save
        raise UsageError(f"--weights {path}: a .npy file holds one array; expected an .npz of W1, W2, ..., WL "
                         "(numpy.savez(path, W1=..., W2=...))")
    try:
        with z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise UsageError(f"--weights {path}: not a readable .npz file ({e})") from None
    keys = sorted((k for k in arrays if re.fullmatch(r"W[1-9][0-9]*", k)), key=lambda k: int(k[1:]))
    if not keys:
        raise UsageError(f"--weights {path}: expected arrays named W1, W2, ..., WL; found "
                         f"{', '.join(arrays) or 'none'}")
    if keys != [f"W{i}" for i in range(1, len(keys) + 1)]:
        raise UsageError(f"--weights {path}: expected W1 .. W{len(keys)} without gaps, found {', '.join(keys)}")
    if len(keys) < 2:
        raise UsageError(f"--weights {path}: expected at least two layers (W1, W2), found only W1")
    if len(keys) > MAX_LAYERS:
        raise UsageError(f"--weights {path}: {len(keys)} layers; at most {MAX_LAYERS} (the symbolic flow and "
                         "bounds grow with the depth)")
    ws = []
    for k in keys:
        a = arrays[k]
        if a.ndim != 2 or 0 in a.shape:
            raise UsageError(f"--weights {path}: {k} must be a non-empty 2-D matrix, got shape {a.shape}")
        if a.dtype.kind not in "iuf":
            raise UsageError(f"--weights {path}: {k} must hold real numbers, got dtype {a.dtype}")
        a = a.astype(float)
        if not np.isfinite(a).all():
            raise UsageError(f"--weights {path}: {k} contains NaN or infinity")
        ws.append(a)
    for i in range(len(ws) - 1):
        if ws[i].shape[1] != ws[i + 1].shape[0]:
            raise UsageError(f"--weights {path}: shapes do not chain: W{i + 1} is {ws[i].shape}, "
                             f"W{i + 2} is {ws[i + 1].shape} (columns of W{i + 1} must equal rows of W{i + 2})")
    return ws


def load_target(path, n: int, m: int) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--target {path}: {'is a directory; expected' if p.is_dir() else 'no such file; expected'} "
                         "a .npy array")
    try:
        with open(p, "rb") as f:   # the header first: a claimed shape must not be allocated blindly
            header = _npy_header(f)
        if header is not None and (header[0] not in ((n, m), (n,)) or header[1].kind not in "iuf"):
            raise UsageError(f"--target {path}: expected a real array of shape ({n}, {m}) to match "
                             f"W1...WL, got {header[1]} of shape {header[0]}")
        y = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise UsageError(f"--target {path}: not a readable .npy file ({e})") from None
    if not isinstance(y, np.ndarray) or y.dtype.kind not in "iuf":
        raise UsageError(f"--target {path}: expected a real array")
    y = np.asarray(y, dtype=float)
    if y.ndim == 1 and m == 1:
        y = y[:, None]
    if y.shape != (n, m):
        raise UsageError(f"--target {path}: expected shape ({n}, {m}) to match W1...WL, got {y.shape}")
    if not np.isfinite(y).all():
        raise UsageError(f"--target {path}: contains NaN or infinity")
    return y


def unimodal_index(ws) -> int | None:
    """``l*`` of Definition 3 (D_l PSD for l < l*, NSD for l >= l*), the smallest that fits, or
    None if there is none. Definiteness is decided up to the eigen-solver's rounding."""
    psd, nsd = [], []
    for l in range(len(ws) - 1):
        D = ws[l].T @ ws[l] - ws[l + 1] @ ws[l + 1].T
        tol = 64 * D.shape[0] * np.finfo(float).eps * max(1.0, np.linalg.norm(D))
        ev = np.linalg.eigvalsh(D)
        psd.append(bool(ev.min() >= -tol))
        nsd.append(bool(ev.max() <= tol))
    for k in range(1, len(ws) + 1):
        if all(psd[: k - 1]) and all(nsd[k - 1:]):
            return k
    return None


def _is_homogeneous(ws) -> bool:
    for l in range(len(ws) - 1):
        D = ws[l].T @ ws[l] - ws[l + 1] @ ws[l + 1].T
        d = np.trace(D) / D.shape[0]
        if np.abs(D - d * np.eye(D.shape[0])).max() > 64 * np.finfo(float).eps * max(1.0, np.linalg.norm(D)):
            return False
    return True


def evaluate_bound(name: str, weights_path, target_path=None, dps: int | None = None,
                   certify: bool = False) -> dict:
    """The bound's value at ``dps`` digits (default 30; with ``certify`` and no ``dps``, the digits
    its certified enclosure decides), its LaTeX and details; ``certify`` adds the certificate."""
    if name not in NAMES:
        raise UsageError(f"bound {name!r}: expected one of {', '.join(NAMES)}")
    ws = load_weights(weights_path)
    L = len(ws)
    n, m = ws[0].shape[0], ws[-1].shape[1]
    Y = load_target(target_path, n, m) if target_path else None
    net = th.LinearNetwork(L)
    vals = dict(zip(net.weights, ws))
    if Y is not None:
        vals[net.target] = Y
    details = {}
    if name == "two-layer":
        if L != 2:
            raise UsageError(f"two-layer: expected 2 weight matrices, got {L}")
        main = th.alpha2() if Y is not None else th.delta_two_layer()
        extra = {"Delta (Theorem 1(i))": th.delta_two_layer()}
    elif name == "three-layer":
        if L != 3:
            raise UsageError(f"three-layer: expected 3 weight matrices, got {L}")
        main = th.delta_star()
        extra = {"Delta* appendix normalisation (Theorem G.2, = 2 Delta*)": th.delta_star(appendix=True)}
    elif name == "deep":
        lstar = unimodal_index(ws)
        if lstar is None:
            raise UsageError("deep: the weights are not unimodal (Definition 3: D_l PSD for l < l*, "
                             "NSD for l >= l*); Theorem 3 does not apply")
        homog = _is_homogeneous(ws)
        main = th.theorem3_homogeneous(L, lstar) if homog else th.theorem3_unimodal(L, lstar)
        extra = {"prod d~(i) (unimodal bound)": th.theorem3_unimodal(L, lstar)} if homog else {}
        details["l*"] = lstar
        details["homogeneous imbalance"] = homog
    else:
        if n * m > MAX_T_ORDER:
            raise UsageError(f"lambda-min-T: Lemma 1's operator T has order n m = {n} x {m} = {n * m}; at most "
                             f"{MAX_T_ORDER} (its eigen-solve grows as (n m)^3)")
        main, extra = th.lambda_min_T(L), {}
    # certify first: the certificate costs milliseconds where a 30-digit value costs seconds
    cert = _certify_bound(name, main, vals, ws, details) if certify else {}
    if cert:
        lo, hi = cert["enclosure"] or ("nan", "nan")
        details["certificate"] = (f"{cert['certified bound']} in [{lo}, {hi}]: > 0 {cert['status']} at "
                                  f"{cert['bits']} bits")
    decided = _decided(*cert["enclosure"]) if dps is None and cert and cert["enclosure"] else None
    if decided is not None:
        # no digits asked for: the value to the digits the certificate decides
        value, dps = decided
        if extra:
            from flowcert.numerics import CertifiedEvaluator
            from flowcert.numerics._spectral import _from_arb
            ev = CertifiedEvaluator(vals, cert["bits"])
            for k, b in extra.items():
                x = ev.bound(b)
                ends = [_from_arb(e) for e in (x.lower(), x.upper())] if x.is_finite() else None
                d = _decided(*ends) if ends else None
                details[k] = (mpmath.nstr(*d) if d else
                              f"in [{x.lower().str(17, radius=False)}, {x.upper().str(17, radius=False)}] (no digit decided)")
    else:
        dps = 30 if dps is None else dps
        value = _from_enclosure(main, extra, vals, dps, details)
        if value is None:
            # guard digits: rounding in the products and eigen-solves eats a few of them
            with workdps(dps + 10):
                ev = Evaluator(vals)
                value = ev.bound(main)
                for k, b in extra.items():
                    details[k] = mpmath.nstr(ev.bound(b), dps)
    if not mpmath.isfinite(value):
        raise UsageError(f"{name}: the bound is not finite on these weights ({value})")
    out = {"bound": main.name, "name": name, "label": main.label, "value": mpmath.nstr(value, dps),
           "dps": dps, "shapes": [list(w.shape) for w in ws], "latex": main.latex(),
           "details": {k: (v if isinstance(v, (bool, int, str)) else str(v)) for k, v in details.items()}}
    out.update(cert)
    return out


def _decided(lo, hi) -> tuple | None:
    """``(value, digits)``: the most significant digits on which both ends of ``[lo, hi]`` agree
    (at most 30), the value the midpoint rounded to them; None when not even one digit is."""
    with workdps(60):
        a, b = mpmath.mpf(lo), mpmath.mpf(hi)
        if not (mpmath.isfinite(a) and mpmath.isfinite(b)):
            return None
        mid = (a + b) / 2
        for d in range(30, 0, -1):
            if mpmath.nstr(a, d) == mpmath.nstr(b, d):
                return mpmath.mpf(mpmath.nstr(mid, d)), d
        return None


def _from_enclosure(main, extra, vals, dps, details):
    """The bound's decimal value from its Arb enclosure (float64 eigenpairs refined to half the
    working precision, Kato-Temple enclosures; no high-precision eigensolve: at 30 digits 0.7 s
    instead of 13 s at h = 200, 23 s instead of 570 s at h = 800), when the ball is narrow enough
    for ``dps`` correct digits; else None."""
    try:
        import flint  # noqa: F401
    except ImportError:
        return None
    from flowcert.numerics import CertifiedEvaluator
    from flowcert.numerics._spectral import _from_arb
    bits = int((dps + 8) * 3.33) + 16
    ev = CertifiedEvaluator(vals, bits, quadratic=True)
    balls = {"main": ev.bound(main), **{k: ev.bound(b) for k, b in extra.items()}}
    with workdps(dps + 10):
        out = {}
        for k, x in balls.items():
            if not x.is_finite():
                return None
            mid = _from_arb(x)
            # the ball must decide dps + 2 digits: its radius under half a unit there (compared
            # in mpmath: a float64 comparison overflows to inf > inf = False beyond 1e308)
            rad = _from_arb(x.rad())
            if rad > 0 and (mid == 0 or rad > mpmath.mpf(10) ** -(dps + 2) / 2 * abs(mid)):
                return None
            out[k] = mid
        for k in extra:
            details[k] = mpmath.nstr(out[k], dps)
        return out["main"]


def _certify_bound(name, main, vals, ws, details) -> dict:
    """``--certify``: the bound's enclosure in ball arithmetic and whether the *whole* ball is > 0
    (a positive rate proves convergence). Theorem 3's hypotheses (unimodal, homogeneous imbalance)
    are certified too; a hypothesis that cannot be certified makes the result uncertified."""
    from flowcert.numerics import certify_bound
    out: dict = {}
    hypotheses = []
    if name == "deep":
        lstar = details["l*"]
        ok = _certify_unimodal(ws, lstar)
        hypotheses.append((f"unimodal with l* = {lstar} (D_l PSD for l < l*, NSD for l >= l*)", ok))
        if details["homogeneous imbalance"]:
            exact = _exactly_homogeneous(ws)
            hypotheses.append(("homogeneous imbalance (exact rational check)", exact))
            if not exact:   # float said homogeneous, exact arithmetic says not: the unimodal bound
                main = th.theorem3_unimodal(len(ws), lstar)
    cert = certify_bound(main, vals, ">", 0)
    j = cert.to_json()
    holds = cert.holds
    if holds and not all(ok for _, ok in hypotheses):
        holds = None
    status = {True: "certified", False: "disproved", None: "uncertified"}[holds]
    out["certified"] = holds is True
    out["status"] = status
    out["certified bound"] = main.name
    out["enclosure"] = j["enclosure"]
    out["relation"] = "> 0"
    out["bits"] = j["bits"]
    out["attempts"] = [{k: v for k, v in t.items() if k != "seconds"} for t in j["attempts"]]
    # wall time only in the timing object: the rest of the JSON is the same on every run
    out["timing"] = {"certify_seconds": j["seconds"], "attempt_seconds": [t.get("seconds") for t in j["attempts"]]}
    if hypotheses:
        out["hypotheses"] = {k: bool(v) for k, v in hypotheses}
    return out


def _certify_unimodal(ws, lstar) -> bool:
    """Every D_l (l < l*) certainly PSD and every D_l (l >= l*) certainly NSD, with escalation."""
    from flowcert.numerics import certify
    from flowcert.numerics._certify import CertifiedEvaluator
    net = th.LinearNetwork(len(ws))
    vals = dict(zip(net.weights, ws))
    for l in range(1, len(ws)):
        D = net.imbalance(l)
        if l < lstar:
            c = certify(lambda prec, D=D: CertifiedEvaluator(vals, prec).spectrum("eig", D)[-1], ">=", 0)
        else:
            c = certify(lambda prec, D=D: CertifiedEvaluator(vals, prec).spectrum("eig", D)[0], "<=", 0)
        if c.holds is not True:
            return False
    return True


def _exactly_homogeneous(ws) -> bool:
    """``D_l = d_l I`` in exact rational arithmetic (the float weights read exactly)."""
    from flint import fmpq, fmpq_mat

    def q(a):
        return fmpq_mat(a.shape[0], a.shape[1], [fmpq(*float(x).as_integer_ratio()) for x in a.ravel()])
    for l in range(len(ws) - 1):
        a, b = q(ws[l]), q(ws[l + 1])
        D = a.transpose() * a - b * b.transpose()
        n = D.nrows()
        d = D[0, 0]
        if any(D[i, j] != (d if i == j else 0) for i in range(n) for j in range(n)):
            return False
    return True


#: exit status of ``--certify``: proved > 0, disproved, undecided at the highest precision tried
EXIT = {"certified": 0, "disproved": 1, "uncertified": 3}


def main(a) -> int:
    """``flowcert bound``: print the bound (text or ``--json``). Exit 0; with ``--certify`` 0 when the
    bound is certified > 0, 1 when it is disproved, 3 when undecided at the precision reached."""
    import json

    from flowcert.checks._progress import ticking
    with ticking("bound", quiet=a.quiet):
        out = evaluate_bound(a.name, a.weights, a.target, a.dps, certify=a.certify)
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{out['bound']} = {out['value']}  ({out['label']}; {out['dps']} digits; shapes {out['shapes']})")
        for k, v in out.get("details", {}).items():
            extra = f" ({out['timing']['certify_seconds']:.3g} s)" if k == "certificate" else ""
            print(f"  {k} = {v}{extra}")
    return EXIT[out["status"]] if a.certify else 0
