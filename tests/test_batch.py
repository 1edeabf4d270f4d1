"""numerics.descend_batch: what it records, when it reports progress, what it refuses, where it
stops a diverging run. (Its arithmetic is compared with numerics.descend in test_chen2022.py and
with (D.1) written out by the claim min2023.gd.step-numeric.)"""
import numpy as np
import pytest

from flowcert.numerics import DivergenceError, descend_batch


def _chain(B=2, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((B, 2, 3)) * 0.3, rng.standard_normal((B, 3, 2)) * 0.3], rng.standard_normal((B, 2, 2))


def test_records_step_zero_every_record_every_and_the_last():
    ws, Y = _chain()
    seen = []
    tr = descend_batch(ws, Y, 0.01, 10, record_every=3,
                       observe=lambda w: seen.append(1) or {"first": w[0][:, 0, 0].copy()})
    assert tr.steps == (0, 3, 6, 9, 10)
    assert tr.losses.shape == (5, 2) and len(seen) == 5 and tr.records["first"].shape == (5, 2)
    assert descend_batch(ws, Y, 0.01, 3).steps == (0, 1, 2, 3)        # every step by default
    assert descend_batch(ws, Y, 0.001, 300, record_every=7).steps[-2:] == (294, 300)


def test_progress_every_hundredth_of_the_run_and_at_its_end():
    ws, Y = _chain()
    calls = []
    descend_batch(ws, Y, 0.01, 250, progress=lambda k, n: calls.append((k, n)))
    assert calls == [(k, 250) for k in range(2, 251, 2)]               # 250 // 100 = 2
    calls.clear()
    descend_batch(ws, Y, 0.01, 301, progress=lambda k, n: calls.append(k))
    assert calls == list(range(3, 301, 3)) + [301]                     # and the last, off the grid
    calls.clear()
    descend_batch(ws, Y, 0.001, 990, progress=lambda k, n: calls.append(k))
    assert calls == list(range(9, 991, 9))                             # 990 // 100 = 9
    calls.clear()
    descend_batch(ws, Y, 0.01, 7, progress=lambda k, n: calls.append(k))
    assert calls == list(range(1, 8))                                  # fewer than 100 steps: each


@pytest.mark.parametrize("weights, target, match", [
    ([np.zeros((2, 2))], np.zeros((1, 2, 2)), r"weights\[0\]: expected a \(B, rows, cols\) array"),
    ([np.zeros((1, 2, 3)), np.zeros((2, 3, 2))], np.zeros((1, 2, 2)), r"weights\[1\]: shape \(2, 3, 2\)"),
    ([np.zeros((2, 2, 3)), np.zeros((1, 3, 2))], np.zeros((2, 2, 2)), r"weights\[1\]: shape \(1, 3, 2\)"),
    ([np.zeros((1, 2, 3)), np.zeros((1, 4, 2))], np.zeros((1, 2, 2)), r"weights\[1\]: shape \(1, 4, 2\)"),
    ([np.zeros((1, 2, 3)), np.zeros((1, 2, 2)), np.zeros((1, 2, 4))], np.zeros((1, 2, 4)),
     r"weights\[1\]: shape \(1, 2, 2\) does not chain with \(1, 2, 3\)"),
    # further down the chain: the message names the layer before (not the first, not the next)
    ([np.zeros((1, 2, 3)), np.zeros((1, 3, 4)), np.zeros((1, 5, 6)), np.zeros((1, 6, 7))], np.zeros((1, 2, 7)),
     r"weights\[2\]: shape \(1, 5, 6\) does not chain with \(1, 3, 4\)"),
    ([np.zeros((1, 2, 3)), np.zeros((1, 3, 4)), np.zeros((1, 4, 5)), np.zeros((1, 6, 7))], np.zeros((1, 2, 7)),
     r"weights\[3\]: shape \(1, 6, 7\) does not chain with \(1, 4, 5\)"),
    (np.zeros((1, 1, 2, 2)), np.zeros((1, 2, 2)), r"weights: expected a non-empty list"),
    ([np.zeros((1, 1, 2, 2))], np.zeros((1, 2, 2)), r"weights\[0\]: expected a \(B, rows, cols\) array"),
    ([np.zeros((1, 2, 2))], np.zeros((1, 2, 1)), r"target: expected shape \(1, 2, 2\), got \(1, 2, 1\)"),
    ([], np.zeros((1, 2, 2)), r"weights: expected a non-empty list"),
    ([np.zeros((1, 2, 2))], np.zeros((1, 2, 3)), r"target: expected shape \(1, 2, 2\)"),
    ([np.zeros((1, 2, 3)), np.zeros((1, 3, 4))], np.zeros((1, 2, 5)), r"target: expected shape \(1, 2, 4\)"),
])
def test_shapes_that_do_not_chain_are_refused(weights, target, match):
    with pytest.raises(ValueError, match=match):
        descend_batch(weights, target, 0.1, 1)


@pytest.mark.parametrize("kw, match", [
    ({"steps": -1}, "steps: expected an integer >= 0"), ({"steps": 1.5}, "steps: expected an integer >= 0"),
    ({"steps": True}, "steps: expected an integer >= 0"), ({"steps": "3"}, "steps: expected an integer >= 0"),
    ({"record_every": 0}, "record_every: expected a positive integer"),
    ({"record_every": 2.0}, "record_every: expected a positive integer"),
])
def test_counts_that_are_not_integers_in_range_are_refused(kw, match):
    ws, Y = _chain()
    with pytest.raises(ValueError, match=match):
        descend_batch(ws, Y, 0.01, **{"steps": 3, **kw})


def test_zero_steps_record_the_start_only():
    ws, Y = _chain()
    tr = descend_batch(ws, Y, 0.01, 0)
    assert tr.steps == (0,) and all(np.array_equal(a, b) for a, b in zip(tr.final, ws))


@pytest.mark.parametrize("lr", [0.0, -1.0, float("inf"), float("nan"), True])
def test_a_step_that_is_not_finite_and_positive_is_refused(lr):
    with pytest.raises(ValueError, match="lr: expected a finite positive step"):
        descend_batch([np.zeros((1, 2, 2))], np.zeros((1, 2, 2)), lr, 1)


def test_divergence_is_relative_to_the_start():
    """The run stops when a weight exceeds 1e12 (max|W0| + 1): from max|W0| = 1e3 that is
    1.001e15. One step of lr 1 on a single layer lands exactly on the target, so a target just
    inside the limit (1.0005e15) is reached and one just outside it (1.002e15) is refused."""
    w0 = [np.full((1, 1, 1), 1e3)]
    tr = descend_batch(w0, np.full((1, 1, 1), 1.0005e15), 1.0, 1)
    assert tr.final[0][0, 0, 0] == 1.0005e15
    with pytest.raises(DivergenceError, match="diverged at step 1"):
        descend_batch(w0, np.full((1, 1, 1), 1.002e15), 1.0, 1)
    # on the limit itself (from 0 it is 1e12, an exact float): still inside
    tr = descend_batch([np.zeros((1, 1, 1))], np.full((1, 1, 1), 1e12), 1.0, 3)
    assert tr.final[0][0, 0, 0] == 1e12
    with pytest.raises(DivergenceError, match="diverged at step 1"):     # half a unit past it: out
        descend_batch([np.zeros((1, 1, 1))], np.full((1, 1, 1), 1e12 + 0.5), 1.0, 1)


def test_a_trajectory_is_read_only():
    import dataclasses
    ws, Y = _chain()
    tr = descend_batch(ws, Y, 0.01, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        tr.steps = ()


@pytest.mark.parametrize("record_every", [1, 10_000])
@pytest.mark.parametrize("lr", [2.2, 2.5, 3.1])
def test_divergence_names_the_first_step_past_the_limit(lr, record_every):
    """The bound is checked every few dozen steps (and replayed from a copy on failure): the step
    named is still the first one a per-step check finds. Reference: one layer, w <- w - lr (w - y)
    stepped by hand in Python floats (the same operations), checked after every step; |w - y|
    grows by |1 - lr| a step, so the limit is passed after ~160, ~70 and ~30 steps."""
    w0, y = 0.75, -0.5
    limit = 1e12 * (abs(w0) + 1)
    w, first = w0, None
    for k in range(1, 10_000):
        w = w - lr * (w - y)
        if not abs(w) <= limit:
            first = k
            break
    assert first is not None and first > 1
    with pytest.raises(DivergenceError, match=f"diverged at step {first}$"):
        descend_batch([np.full((1, 1, 1), w0)], np.full((1, 1, 1), y), lr, 10_000, record_every=record_every)


def test_large_batches_and_widths_chain():
    # sizes past CPython's small-integer cache: shapes compared by value, not identity
    B, h = 300, 260
    ws = [np.full((B, 1, h), 0.01), np.full((B, h, 1), 0.01)]
    tr = descend_batch(ws, np.ones((B, 1, 1)), 0.1, 2)
    assert tr.losses.shape == (3, B) and np.all(tr.losses[-1] < tr.losses[0])
