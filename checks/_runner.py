"""The runner: claims + a profile -> a report. The CLI and the pytest plugin are thin layers on it."""
from __future__ import annotations

import contextlib
import contextvars
import json
import math
import os
import re
import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterable

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed as hseed, settings

from flowcert.numerics import serial_blas

from ._claim import Claim, Verdict

#: Hypothesis examples per claim; a claim may lower them (``Claim.examples``) when one is costly.
PROFILES = {"quick": 8, "standard": 50, "deep": 300}


class Skip(Exception):
    """Raised by a check that cannot run here (missing optional dependency, profile too small)."""


@dataclass(frozen=True)
class RunOptions:
    profile: str = "quick"
    seed: int = 0
    dps: int = 30  # the precision of claims that run at high precision
    #: seconds a claim may take before it is stopped and reported undecided (0: no limit). The
    #: quick profile's slowest claim takes ~6 s; a regression that escalates precision forever
    #: (a planted mistake kept the box plot busy for 34 minutes) must not hold the run.
    timeout: float = 600.0

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ValueError(f"profile: expected one of {', '.join(PROFILES)}, got {self.profile!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed: expected a non-negative integer, got {self.seed!r}")
        if isinstance(self.dps, bool) or not isinstance(self.dps, int) or not 15 <= self.dps <= 10_000:
            raise ValueError(f"dps: expected an integer number of digits in [15, 10000], got {self.dps!r}")
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) or not (
                0 <= self.timeout < math.inf):
            raise ValueError(f"timeout: expected seconds >= 0 (0: no limit), got {self.timeout!r}")


_OPTIONS: contextvars.ContextVar[RunOptions] = contextvars.ContextVar("flowcert_run", default=RunOptions())


def options() -> RunOptions:
    """The options of the run in progress (claims read the profile and precision here)."""
    return _OPTIONS.get()


@contextlib.contextmanager
def using(opts: RunOptions):
    token = _OPTIONS.set(opts)
    try:
        yield opts
    finally:
        _OPTIONS.reset(token)


@dataclass
class Result:
    id: str
    paper: str
    provenance: str
    statement: str
    status: str
    examples: int = 0
    worst_margin: float | None = None
    precision: str = ""
    seconds: float = 0.0
    detail: str = ""
    counterexample: object = None
    discrepancy: bool = False
    #: the input of the worst verdict (encoded as a counterexample is), and whether it is degenerate
    worst_example: object = None

    def to_json(self) -> dict:
        """Everything but the wall time, which reports keep apart so that runs compare byte for byte."""
        d = asdict(self)
        del d["seconds"]
        if d["worst_margin"] is not None and not math.isfinite(d["worst_margin"]):
            d["worst_margin"] = None
        return d


class _Refuted(AssertionError):
    pass


def encode(example):
    """A JSON form of an example that :func:`decode` turns back into the same values (floats are
    written with ``repr``, which round-trips exactly)."""
    if isinstance(example, np.ndarray):
        return {"__array__": example.tolist(), "dtype": str(example.dtype)}
    if isinstance(example, (list, tuple)):
        return {"__seq__": [encode(x) for x in example], "tuple": isinstance(example, tuple)}
    if isinstance(example, dict):
        return {"__dict__": [[encode(k), encode(v)] for k, v in example.items()]}
    if isinstance(example, (np.floating, np.integer)):
        return example.item()
    return example


def decode(obj):
    if isinstance(obj, dict):
        if "__array__" in obj:
            return np.array(obj["__array__"], dtype=obj.get("dtype", "float64"))
        if "__seq__" in obj:
            seq = [decode(x) for x in obj["__seq__"]]
            return tuple(seq) if obj.get("tuple") else seq
        if "__dict__" in obj:
            return {decode(k): decode(v) for k, v in obj["__dict__"]}
    return obj


@contextlib.contextmanager
def _no_local_constants():
    """Hypothesis mixes into its draws constants it finds in the *local* source modules loaded in
    the process (an editable install counts as local, a wheel does not; so do a test session's
    modules). The draws of a claim would then depend on how flowcert was installed and on what
    else was imported, and ``--seed`` would not decide them alone. Draw from Hypothesis' fixed
    constants only, for the duration of the run. (Hypothesis internals; without them, nothing is
    patched.)"""
    try:
        from hypothesis.internal.conjecture import providers
        from sortedcontainers import SortedSet
        empty = providers.Constants(integers=SortedSet(), floats=SortedSet(key=providers.float_to_int),
                                    bytes=SortedSet(), strings=SortedSet())
        original, cache = providers._get_local_constants, providers.CONSTANTS_CACHE
        # the pools already filtered for each kind of draw hold local constants too (Hypothesis
        # tests run earlier in this process filled them): a fresh cache for the run
        fresh = type(cache)(1024)
    except (ImportError, AttributeError, TypeError):
        yield
        return
    providers._get_local_constants, providers.CONSTANTS_CACHE = (lambda: empty), fresh
    try:
        yield
    finally:
        providers._get_local_constants, providers.CONSTANTS_CACHE = original, cache


def _hypothesis_home() -> None:
    """Hypothesis keeps files (its example database, constants of the code under test) in a
    ``.hypothesis`` directory of the working directory unless told otherwise: send them to
    flowcert's cache directory, unless the user chose a place (``HYPOTHESIS_STORAGE_DIRECTORY`` or
    ``hypothesis.configuration.set_hypothesis_home_dir``)."""
    from hypothesis import configuration
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY") or getattr(configuration, "__hypothesis_home_directory", None):
        return
    from ._experiment import user_cache_dir
    configuration.set_hypothesis_home_dir(user_cache_dir() / "hypothesis")


def _settings(opts: RunOptions, claim: Claim) -> settings:
    n = claim.examples.get(opts.profile, PROFILES[opts.profile])
    return settings(
        max_examples=n,
        derandomize=False,  # the run's --seed decides the draws; see hseed below
        database=None,      # a verification run must not depend on earlier runs
        deadline=None,      # integrations vary too much in time for a deadline
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        print_blob=False,
        report_multiple_bugs=False,
    )


def _fmt_margin(v: Verdict) -> float:
    return v.margin if math.isfinite(v.margin) else float("inf")


class _TimedOut(BaseException):
    """Raised in a claim's check when its time is up: a BaseException, so that a check's own
    ``except Exception`` cannot swallow it."""


@contextlib.contextmanager
def _deadline(seconds: float):
    """Interrupt the block after ``seconds`` of wall time (the main thread of a Unix process; no
    limit elsewhere, or for 0). Compiled code is interrupted when it returns to Python."""
    import signal
    import threading
    if (not seconds or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread()
            or signal.getitimer(signal.ITIMER_REAL)[0] > 0):
        # no limit here, or an outer one is armed (pytest-timeout, the caller's): left alone
        yield
        return

    def expire(signum, frame):
        raise _TimedOut()
    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_claim(claim: Claim, opts: RunOptions | None = None,
              on_example: Callable[[Claim, int, int], None] | None = None) -> Result:
    """Check one claim under the given options; never raises for a failing or broken claim."""
    opts = opts or options()
    _hypothesis_home()
    res = Result(claim.id, claim.paper, claim.provenance, claim.statement, "pass",
                 discrepancy=claim.discrepancy)
    t0 = time.perf_counter()
    verdicts: list[Verdict] = []
    inputs: list = []
    failing: list = []
    drawn = [None]
    with using(opts), serial_blas(), _no_local_constants():
        try:
            with _deadline(opts.timeout):
                if claim.strategy is None:
                    v = claim.check(claim.example)
                    verdicts.append(v)
                    inputs.append(claim.example)
                    if v.holds is False:
                        failing.append((claim.example, v))
                else:
                    total = claim.examples.get(opts.profile, PROFILES[opts.profile])

                    def prop(example):
                        v = claim.check(example)
                        verdicts.append(v)
                        inputs.append(example)
                        if on_example:
                            on_example(claim, len(verdicts), total)
                        if v.holds is False:
                            if not failing:
                                drawn[0] = len(verdicts)   # what follows are Hypothesis' shrink replays
                            failing.append((example, v))
                            raise _Refuted(v.detail)

                    test = hseed(opts.seed)(_settings(opts, claim)(given(claim.strategy)(prop)))
                    try:
                        test()
                    except _Refuted:
                        pass
        except Skip as e:
            res.status, res.detail = "skipped", str(e)
        except _TimedOut:
            # not shown within the time allowed: undecided, which is not false
            res.status = "uncertified"
            res.detail = (f"stopped after {opts.timeout:g} s (the claim's time limit) with "
                          f"{len(verdicts)} example(s) checked")
        except Exception as e:  # a broken check is a failed claim, reported with its reason
            res.status, res.detail = "fail", f"error: {type(e).__name__}: {e}"
    res.seconds = time.perf_counter() - t0
    res.examples = drawn[0] if drawn[0] is not None else len(verdicts)
    if res.status == "skipped":
        return res
    if verdicts:
        # margins that differ only in their last bits (LAPACK may round differently in another
        # process) must not pick a different worst input: compare them at 3 significant digits,
        # the first drawn winning a tie, so that reports compare byte for byte
        i = min(range(len(verdicts)), key=lambda j: (_coarse(_fmt_margin(verdicts[j])), j))
        worst = verdicts[i]
        res.worst_margin = _coarse(worst.margin)
        res.precision = _precisions(verdicts)
        if not res.detail:
            res.detail = worst.detail
        if claim.strategy is not None and i < len(inputs):
            res.worst_example = encode(inputs[i])
            if _degenerate(inputs[i]):
                res.detail = f"worst on a degenerate input (every entry 0): {res.detail}"
    if failing:
        ex, v = failing[-1]  # hypothesis replays the shrunk example last
        res.status = "fail"
        res.worst_margin, res.precision, res.detail = _coarse(v.margin), v.precision, v.detail
        res.counterexample = encode(ex)
    elif res.status == "pass" and any(v.holds is None for v in verdicts):
        res.status = "uncertified"
    elif res.status == "pass" and verdicts and all(v.certified and v.holds for v in verdicts):
        res.status = "certified"
    return res


def _coarse(m: float) -> float:
    """A margin to 3 significant digits (what reports show)."""
    return float(f"{m:.3g}") if math.isfinite(m) else m


def _precisions(verdicts) -> str:
    """What backed the verdicts: their one precision, or the kinds when they differ (a claim that
    certifies some inputs and evaluates others is not reported as certified). Kinds, not counts
    or bits: which inputs a ball certifies at 53 bits can turn on the last bit of a float64 guess,
    and reports must compare byte for byte across processes."""
    kinds = sorted({re.sub(r", Arb \d+\+? bits", " (Arb)", v.precision) for v in verdicts})
    if len({v.precision for v in verdicts}) == 1:
        return verdicts[0].precision
    return "mixed: " + "; ".join(kinds)


def _degenerate(example) -> bool:
    """An input whose every number is 0 (Hypothesis tries it first; a bound is often trivially
    tight there), so that a report can say its worst case is such an input."""
    nums = []

    def walk(x):
        if isinstance(x, np.ndarray):
            nums.extend(np.ravel(x).tolist() if x.dtype.kind in "biuf" else [1])
        elif isinstance(x, (list, tuple)):
            for y in x:
                walk(y)
        elif isinstance(x, dict):
            for y in x.values():
                walk(y)
        elif isinstance(x, (int, float, np.number)) and not isinstance(x, bool):
            nums.append(x)
        else:
            nums.append(1)
    walk(example)
    return bool(nums) and all(v == 0 for v in nums)


class NonFiniteInput(ValueError):
    """A replayed input with NaN or infinity in it."""


def _all_finite(x) -> bool:
    if isinstance(x, np.ndarray):
        return x.dtype.kind not in "fc" or bool(np.isfinite(x).all())
    if isinstance(x, (list, tuple)):
        return all(_all_finite(y) for y in x)
    if isinstance(x, dict):
        return all(_all_finite(y) for y in x.values())
    if isinstance(x, (float, np.floating)):
        return math.isfinite(x)
    return True


def replay(claim: Claim, example_json: str | dict, opts: RunOptions | None = None) -> Verdict:
    """Check a claim on one example, as printed in a failure report (whose numbers are finite:
    an input with NaN or infinity is no example of any claim, and is refused)."""
    ex = decode(json.loads(example_json) if isinstance(example_json, str) else example_json)
    if not _all_finite(ex):
        raise NonFiniteInput("the input holds NaN or infinity; a counterexample's numbers are finite")
    with using(opts or options()):
        return claim.check(ex)


def run(claims: Iterable[Claim], opts: RunOptions, on_result: Callable[[Result], None] | None = None,
        on_start: Callable[[Claim], None] | None = None,
        on_example: Callable[[Claim, int, int], None] | None = None) -> list[Result]:
    out = []
    for c in claims:
        if on_start:
            on_start(c)
        r = run_claim(c, opts, on_example)
        out.append(r)
        if on_result:
            on_result(r)
    return out
