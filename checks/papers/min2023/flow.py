"""``flowcert flow``: integrate the gradient flow of a linear network from given weights, at any
precision and on any backend of :func:`flowcert.numerics.solve`, and put the rate bound beside the loss.

The prediction is min2023's Grönwall envelope ``L(t) <= exp(-gamma alpha t) L(0)`` (gamma = 2,
L* = 0: the hidden widths are at least min(n, m), so the target is reachable) with alpha the bound
of the depth: Theorem 1's alpha2 (L = 2), Corollary 1's Delta* (L = 3), Theorem 3 / Corollary 2's
prod d~(i) (L >= 4, unimodal weights; homogeneous imbalance adds the sigma_min term).
"""
from __future__ import annotations

import io
import json
import math
import os
import time
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np

from flowcert import theory as th
from flowcert.numerics import Evaluator, compile_matrix, expr_observer, solve, workdps
from flowcert.numerics._integrate import BACKENDS, IntegrationError

from flowcert.checks._experiment import UsageError
from flowcert.checks.papers.min2023.bound import _is_homogeneous, load_target, load_weights, unimodal_index

__all__ = ["cmd_flow", "run_flow"]


#: the most loss samples a flow prints and records (each is an evaluation at the flow's precision)
MAX_SAMPLES = 100_000


def _t_end(text) -> Fraction:
    from flowcert.checks._args import read_fraction
    t = read_fraction(text, "--t-end")
    if not t > 0:
        raise UsageError(f"--t-end: expected a positive number, got {text!r}")
    if t > 10 ** 6:
        raise UsageError(f"--t-end: expected at most 1e6, got {text!r}")
    return t


def _rate(net, ws, Y):
    """(bound, its label, the reason when no bound applies)."""
    L = len(ws)
    n, m = ws[0].shape[0], ws[-1].shape[1]
    if min(w.shape[1] for w in ws[:-1]) < min(n, m):
        return None, None, "a hidden width is below min(n, m): L* > 0, the envelope does not apply"
    if L == 2:
        return th.alpha2(), "alpha2 (Theorem 1, with the 1/2 of App. F)", None
    if L == 3:
        return th.delta_star(), "Delta* (Corollary 1)", None
    lstar = unimodal_index(ws)
    if lstar is None:
        return None, None, "the weights are not unimodal (Definition 3): Theorem 3 does not apply"
    if _is_homogeneous(ws):
        return th.theorem3_homogeneous(L, lstar), f"Theorem 3, homogeneous imbalance (l* = {lstar})", None
    return th.theorem3_unimodal(L, lstar), f"prod d~(i) (Corollary 2, l* = {lstar})", None


def run_flow(weights_path, target_path, t_end, dps: int | None = None, backend: str | None = None,
             samples: int = 11, progress=None, trajectory: bool = False) -> dict:
    """The flow from the weights in ``weights_path`` towards the target; ``progress(t, T)`` after
    each step. The returned dict is JSON-able but for ``"arrays"`` (the final weights as float64,
    and with ``trajectory`` the weights at every sample time), which :func:`cmd_flow` saves."""
    ws = load_weights(weights_path)
    n, m = ws[0].shape[0], ws[-1].shape[1]
    Y = load_target(target_path, n, m)
    T = _t_end(t_end)
    if backend is not None and backend not in BACKENDS:
        raise UsageError(f"--backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    if dps is None and backend in ("flint", "mpmath"):
        raise UsageError(f"--backend {backend}: runs at high precision; give --dps (e.g. --dps 30)")
    if dps is not None and backend == "numpy":
        raise UsageError("--backend numpy: runs in float64; drop --dps or choose flint, mpmath, heyoka")
    if backend == "heyoka":
        from flowcert.numerics._heyoka import available
        if not available():
            raise UsageError("--backend heyoka: heyoka (with its real type) is not installed; "
                             "pip install 'flowcert[heyoka]'")
    if samples < 2:
        raise UsageError(f"--samples: expected at least 2, got {samples}")
    if samples > MAX_SAMPLES:
        raise UsageError(f"--samples: expected at most {MAX_SAMPLES}, got {samples}")
    net = th.LinearNetwork(len(ws))
    w0 = dict(zip(net.weights, ws))
    times = [T * k / (samples - 1) for k in range(samples)]
    loss = compile_matrix(net.loss, net.weights + (net.target,))
    obs = {"loss": lambda s: loss(*[s[w] for w in net.weights], s[net.target])}
    for l in range(1, len(ws)):
        obs[f"D{l}"] = expr_observer(net.imbalance(l))
    t0 = time.perf_counter()
    try:
        sol = solve(net.flow, w0, T, params={net.target: Y}, dps=dps, t_eval=times, observers=obs,
                    backend=backend, progress=progress)
    except IntegrationError as e:
        raise UsageError(f"flow: {e}") from None
    seconds = time.perf_counter() - t0
    digits = dps or 17
    bound, label, why = _rate(net, ws, Y)
    with workdps(dps):
        fmt = (lambda x: mpmath.nstr(x, digits)) if dps else (lambda x: repr(float(x)))
        losses = sol.records["loss"]
        drift = 0
        for l in range(1, len(ws)):
            d = sol.records[f"D{l}"]
            drift = max([drift] + [abs(x) for a in d for x in (a - d[0]).flat])
        alpha = None
        if bound is not None:
            vals = dict(w0)
            vals[net.target] = Y
            with workdps(dps + 10 if dps else None):
                alpha = Evaluator(vals).bound(bound)
        curve = []
        for t, Lt in zip(sol.times, losses):
            row = {"t": fmt(t), "loss": fmt(Lt)}
            if alpha is not None:
                gam = int(th.SQUARED_LOSS[th.gamma])   # the envelope exp(-gamma alpha t), gamma = 2
                env = (mpmath.exp(-gam * alpha * t) if dps else math.exp(-gam * float(alpha) * float(t))) * losses[0]
                row["envelope"] = fmt(env)
                # the flow's own rounding: a loss equal to the envelope to the working precision counts
                tol = (mpmath.mpf(10) ** (-(dps - 2)) if dps else 1e-12) * abs(losses[0])
                row["below"] = bool(Lt <= env + tol)
            curve.append(row)
        out = {
            "depth": len(ws), "shapes": [list(w.shape) for w in ws], "t_end": str(T if T.denominator != 1 else T.numerator),
            "dps": dps, "precision": f"{dps} digits" if dps else "float64", "backend": sol.backend,
            "steps": sol.steps, "timing": {"seconds": seconds},
            "loss": curve, "imbalance_drift": fmt(drift) if drift else "0",
            "bound": ({"name": bound.name, "label": label, "value": fmt(alpha), "gamma": 2,
                       "envelope": "L(t) <= exp(-gamma alpha t) L(0)",
                       "holds_on_samples": all(r["below"] for r in curve)}
                      if bound is not None else {"name": None, "reason": why}),
            "final_weights": {f"W{i + 1}": [[fmt(x) for x in row] for row in sol.final[w].tolist()]
                              for i, w in enumerate(net.weights)},
        }
    arrays = {f"W{i + 1}": np.array(sol.final[w].tolist(), dtype=float) for i, w in enumerate(net.weights)}
    if trajectory:
        arrays["t"] = np.array([float(t) for t in sol.times])
        for i, w in enumerate(net.weights):
            arrays[f"W{i + 1}_path"] = np.array([np.array(st[w].tolist(), dtype=float) for st in sol.states])
    out["arrays"] = arrays
    return out


def _check_out(path) -> Path:
    """``--out``: a new or replaceable ``.npz`` file in an existing directory, checked before any work."""
    p = Path(path)
    if p.suffix != ".npz":
        raise UsageError(f"--out {path}: expected a file name ending in .npz")
    from flowcert.checks._experiment import check_outputs
    check_outputs({"--out": path})
    if p.is_dir():
        raise UsageError(f"--out {path}: is a directory; expected a .npz file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--out {path}: no such directory {parent}")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"--out {path}: cannot write in {parent}")
    return p


def cmd_flow(a) -> int:
    """``flowcert flow``: a summary (or ``--json``); ``--out`` saves the final weights (``W1`` ..,
    float64) and with ``--trajectory`` the weights at every sample time (``t``, ``W1_path`` ..)."""
    from flowcert.checks._experiment import write_together
    from flowcert.checks._progress import Progress
    if getattr(a, "certify", False):
        return _cmd_certify(a)
    if getattr(a, "max_seconds", None) is not None:
        raise UsageError("--max-seconds: only with --certify")
    if a.trajectory and not a.out:
        raise UsageError("--trajectory: needs --out FILE.npz (where the trajectory is saved)")
    target = _check_out(a.out) if a.out else None
    with Progress("flow", "of t", quiet=a.quiet) as progress:
        out = run_flow(a.weights, a.target, a.t_end, a.dps, a.backend, a.samples, progress, a.trajectory)
    arrays = out.pop("arrays")
    if target is not None:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        write_together({target: buf.getvalue()}, {target: "--out"})
    if a.json:
        print(json.dumps(out, indent=2))
        return 0
    b = out["bound"]
    print(f"gradient flow, depth {out['depth']}, shapes {out['shapes']}, T = {out['t_end']}, "
          f"{out['precision']}, backend {out['backend']}: {out['steps']} steps in {out['timing']['seconds']:.3g} s")
    print(f"largest imbalance drift max_l,t |D_l(t) - D_l(0)| = {out['imbalance_drift']}")
    if b["name"]:
        print(f"bound: {b['label']} = {b['value']}; envelope exp(-2 alpha t) L(0)")
        w = max(len(r["t"]) for r in out["loss"])
        wl = max(len(r["loss"]) for r in out["loss"])
        print(f"  {'t':>{w}}  {'loss':<{wl}}  envelope")
        for r in out["loss"]:
            print(f"  {r['t']:>{w}}  {r['loss']:<{wl}}  {r['envelope']}{'' if r['below'] else '  ABOVE'}")
    else:
        print(f"bound: none ({b['reason']})")
        for r in out["loss"]:
            print(f"  t = {r['t']}: loss {r['loss']}")
    norms = ", ".join(f"||{k}(T)||_F = {np.linalg.norm(v):.6g}" for k, v in arrays.items() if "_" not in k and k != "t")
    print(f"final weights: {norms}")
    print(f"  saved in {target}" + (" with the trajectory (t, W*_path)" if a.trajectory else "") if target
          else "  (--out FILE.npz saves them; --json prints every entry)")
    return 0


def certify_run(weights_path, target_path, t_end, digits: int = 30, max_seconds: float | None = None,
                progress=None) -> dict:
    """``flowcert flow --certify``: the validated enclosure of the flow from the weights in
    ``weights_path`` (see :func:`flowcert.numerics.certify_flow`), the certified range of the loss
    on [0, T] and, where min2023 has a bound for these shapes, whether its envelope is proved."""
    import flint
    from flowcert.numerics import certify_flow
    from flowcert.numerics._certify import _fmt_end, ends, workprec
    ws = load_weights(weights_path)
    n, m = ws[0].shape[0], ws[-1].shape[1]
    Y = load_target(target_path, n, m)
    T = _t_end(t_end)
    if not 5 <= digits <= 1000:
        raise UsageError(f"--dps: expected 5 to 1000 digits with --certify, got {digits}")
    if max_seconds is not None and not max_seconds > 0:
        raise UsageError(f"--max-seconds: expected a positive number, got {max_seconds}")
    net = th.LinearNetwork(len(ws))
    w0 = dict(zip(net.weights, ws))
    enc = certify_flow(net.flow, w0, T, params={net.target: Y}, digits=digits, time_budget=max_seconds,
                       progress=progress)
    from flowcert.checks.papers.min2023.claims import loss_on_boxes
    loss = loss_on_boxes(net, Y)
    with workprec(enc.bits):
        rng = enc.value_range(loss) if enc.steps else loss({w: flint.arb_mat(v.tolist()) for w, v in w0.items()})
        lo, hi = ends(rng)
    out = {"depth": len(ws), "shapes": [list(w.shape) for w in ws], **enc.to_json(digits=min(digits, 40))}
    # wall time only in the timing object: the rest of the JSON is the same on every run
    out["timing"] = {"seconds": out.pop("seconds")}
    out["t_end"] = str(T if T.denominator != 1 else T.numerator)
    out["enclosure"] = {f"W{i + 1}": out["enclosure"][str(w)] for i, w in enumerate(net.weights)}
    out["loss_range"] = [_fmt_end(lo, 17, -1), _fmt_end(hi, 17, +1)]
    out["horizon_note"] = ("the loss range and the enclosure hold for every t in [0, t_certified]" if enc.certified
                           else f"proved on [0, {float(enc.t_certified):.6g}] only: {enc.reason}")
    bound, label, why = _rate(net, ws, Y)
    if bound is None:
        out["envelope"] = {"name": None, "reason": why}
    elif not enc.certified:
        out["envelope"] = {"name": bound.name, "label": label, "certified": False,
                           "detail": "the enclosure does not reach T"}
    else:
        from flowcert.checks.papers.min2023.claims import _alphas, _certify_envelope
        vals = dict(w0)
        if bound.name == "alpha2":
            vals[net.target] = Y
        _, ball = _alphas(bound, vals)
        ok, detail = _certify_envelope(net, ws, Y, ball, float(T))
        out["envelope"] = {"name": bound.name, "label": label, "certified": ok,
                           "statement": "L(t) <= exp(-2 alpha t) L(0) for all t in [0, T]", "detail": detail}
    return out


def _cmd_certify(a) -> int:
    from flowcert.checks._progress import Progress
    if a.backend is not None:
        raise UsageError("--backend: --certify has its own integrator (validated Taylor in Arb); drop --backend")
    if a.trajectory or a.out:
        raise UsageError("--certify: writes no .npz (the enclosure is in --json); drop --out / --trajectory")
    with Progress("flow --certify", "of t", quiet=a.quiet) as progress:
        out = certify_run(a.weights, a.target, a.t_end, a.dps or 30, a.max_seconds, progress)
    if a.json:
        print(json.dumps(out, indent=2))
        return 0 if out["certified"] else 3
    state = "certified" if out["certified"] else "NOT certified"
    print(f"gradient flow, depth {out['depth']}, shapes {out['shapes']}, T = {out['t_end']}: {state} "
          f"on [0, {out['t_certified']}] ({out['steps']} validated steps of order {out['order']}, Arb {out['bits']} bits, "
          f"{out['timing']['seconds']:.3g} s)")
    if not out["certified"]:
        print(f"  {out['reason']}")
    print(f"enclosure radius {out['radius']} (largest width {out['width']:.3g}); loss on [0, t_certified] in "
          f"[{out['loss_range'][0]}, {out['loss_range'][1]}]")
    env = out["envelope"]
    if env["name"] is None:
        print(f"envelope: none ({env['reason']})")
    else:
        print(f"envelope {env['label']}: {'certified' if env['certified'] else 'not certified'} -- {env['detail']}")
    print("  (--json prints every entry of the enclosure as [lower, upper] decimal strings, rounded outwards)")
    return 0 if out["certified"] else 3
