"""numerics.descend: the update rule, its exact one-step identity, divergence, fast gradients."""
import re

import mpmath
import numpy as np
import pytest
import sympy as sp

from flowcert.numerics import asarray, workdps
from flowcert.numerics._descent import DivergenceError, Trajectory, chain_gradients, descend
from flowcert.numerics._integrate import solve
from flowcert.numerics._matexpr import compile_matrix
from flowcert.theory import LinearNetwork


def maxabs(a):
    return max(abs(x) for x in np.asarray(a).flat)


def setup(depth, shape, scale, seed):
    net = LinearNetwork(depth)
    rng = np.random.default_rng(seed)
    w0 = {w: scale * rng.standard_normal((shape[l], shape[l + 1])) for l, w in enumerate(net.weights)}
    return net, w0, {net.target: rng.standard_normal((shape[0], shape[-1]))}


def test_gd_imbalance_identity_50_digits():
    # D_l(k+1) - D_l(k) = lr^2 (G_l^T G_l - G_{l+1} G_{l+1}^T): the O(lr) terms cancel exactly
    net, w0, params = setup(3, (2, 3, 3, 2), 0.6, seed=1)
    lr = sp.Rational(1, 10)
    with workdps(50):
        tr = descend(dict(zip(net.weights, net.gradient)), w0, lr, 1, params=params)
        syms = list(net.weights) + [net.target]
        before = {s: asarray(a) for s, a in {**w0, **params}.items()}
        G = [compile_matrix(g, syms)(*[before[s] for s in syms]) for g in net.gradient]
        after = {**before, **tr.final}
        eta = mpmath.mpf(1) / 10
        worst = mpmath.mpf(0)
        for l in (1, 2):
            D = compile_matrix(net.imbalance(l), syms)
            lhs = D(*[after[s] for s in syms]) - D(*[before[s] for s in syms])
            rhs = eta**2 * (G[l - 1].T @ G[l - 1] - G[l] @ G[l].T)
            worst = max(worst, maxabs(lhs - rhs))
            assert maxabs(rhs) > mpmath.mpf("1e-4")   # the identity is not 0 = 0
        # entries are O(1) sums of a few dozen products rounded at 1e-50: a few 1e-49 at most.
        # An O(lr) or O(lr^3) slip would be ~1e-2 .. 1e-4, float64 anywhere ~1e-17.
        assert worst < mpmath.mpf("1e-45")


@pytest.mark.parametrize("depth, shape", [(2, (3, 2, 4)), (3, (2, 5, 1, 3)), (4, (1, 3, 2, 2, 1))])
def test_chain_gradients_equal_symbolic(depth, shape):
    net, w0, params = setup(depth, shape, 0.7, seed=depth)
    syms = list(net.weights) + [net.target]
    chain = chain_gradients(net.weights, net.target)
    for dps, tol in ((None, 1e-13), (30, mpmath.mpf("1e-27"))):
        with workdps(dps):
            state = {s: asarray(a) for s, a in {**w0, **params}.items()}
            got = chain(state)
            for w, g in zip(net.weights, net.gradient):
                ref = compile_matrix(g, syms)(*[state[s] for s in syms])
                assert maxabs(got[w] - ref) < tol * (1 + maxabs(ref))


def test_expression_and_chain_paths_agree():
    net, w0, params = setup(3, (4, 6, 5, 2), 0.4, seed=7)
    kw = dict(params=params, record_every=25, loss=net.loss)
    a = descend(dict(zip(net.weights, net.gradient)), w0, 0.05, 100, **kw)
    b = descend(chain_gradients(net.weights, net.target), w0, 0.05, 100, **kw)
    assert a.steps == b.steps == (0, 25, 50, 75, 100)
    assert np.allclose(a.losses, b.losses, rtol=1e-10)
    assert all(np.allclose(a.final[w], b.final[w], rtol=1e-10, atol=1e-12) for w in net.weights)
    assert a.losses[-1] < a.losses[0]


def test_gd_converges_to_flow_first_order():
    # k steps of GD at lr track the flow at t = k lr with error O(lr): halving lr halves it
    net, w0, params = setup(2, (2, 3, 2), 0.5, seed=8)
    flow = solve(net.flow, w0, 1, params=params).final
    grads = dict(zip(net.weights, net.gradient))
    errs = []
    for lr, n in ((0.02, 50), (0.01, 100)):
        gd = descend(grads, w0, lr, n, params=params).final
        errs.append(max(np.max(np.abs(gd[w] - flow[w])) for w in net.weights))
    assert 1e-5 < errs[1] < 1e-1
    assert 1.7 < errs[0] / errs[1] < 2.3


def test_recording_and_progress():
    A = sp.MatrixSymbol("A", 2, 2)
    calls = []
    tr = descend({A: A}, {A: np.eye(2)}, 0.1, 10, record_every=4, observers={"a": lambda s: s[A][0, 0]},
                 loss=sp.Trace(A.T * A) / 2, progress=lambda k, n: calls.append((k, n)))
    assert isinstance(tr, Trajectory)
    assert tr.steps == (0, 4, 8, 10)
    assert tr.records["a"] == pytest.approx([1, 0.9**4, 0.9**8, 0.9**10])
    assert tr.losses == pytest.approx([0.9**(2 * k) for k in tr.steps])
    assert calls[-1] == (10, 10) and len(calls) == 10
    assert np.allclose(tr.final[A], 0.9**10 * np.eye(2))


@pytest.mark.parametrize("dps", [None, 30])
def test_divergence_raises(dps):
    net, w0, params = setup(2, (2, 2, 2), 1.0, seed=9)
    with pytest.raises(DivergenceError, match=r"diverged at step \d+ \(loss"):
        descend(dict(zip(net.weights, net.gradient)), w0, 50, 1000, params=params, loss=net.loss, dps=dps)


def test_bad_inputs():
    net, w0, params = setup(2, (2, 3, 2), 0.5, seed=10)
    grads = dict(zip(net.weights, net.gradient))
    W1, W2 = net.weights
    with pytest.raises(ValueError, match="lr"):
        descend(grads, w0, -0.1, 5, params=params)
    with pytest.raises(ValueError, match="steps"):
        descend(grads, w0, 0.1, -1, params=params)
    with pytest.raises(ValueError, match="record_every"):
        descend(grads, w0, 0.1, 5, params=params, record_every=0)
    with pytest.raises(ValueError, match=r"w0\[W1\]: non-finite"):
        descend(grads, {**w0, W1: np.full((2, 3), np.inf)}, 0.1, 5, params=params)
    with pytest.raises(ValueError, match=r"w0\[W2\]: shape \(4, 2\) does not fit W2"):
        descend(grads, {W1: w0[W1], W2: np.ones((4, 2))}, 0.1, 5, params=params)
    with pytest.raises(ValueError, match=r"params: no value for Y"):
        descend(grads, w0, 0.1, 5)
    with pytest.raises(ValueError, match=r"gradients: no expression for W2"):
        descend({W1: grads[W1]}, w0, 0.1, 5, params=params)


@pytest.mark.parametrize("change, match", [
    (dict(steps=True), "steps: expected an integer"),
    (dict(steps=2.0), "steps: expected an integer"),
    (dict(record_every=True), "record_every"),
    (dict(lr=float("nan")), "lr: expected a finite positive step"),
    (dict(lr="x"), "lr: expected a number"),
    (dict(lr=0.0), "lr: expected a finite positive step"),
    (dict(progress=3), "progress: expected a callable"),
    (dict(w0={}), "w0: expected a non-empty dict"),
    (dict(w0="w"), "w0: expected a non-empty dict"),
    (dict(w0_key="W1"), "keys must be MatrixSymbols"),
    (dict(w0_value=np.ones(3)), "expected a 2-d array"),
    (dict(w0_value=np.array([["a", "b", "c"]] * 2)), "not a numeric array"),
    (dict(gradients=3), "gradients: expected a dict"),
    (dict(gradients="missing"), "the callable returned no gradient for W2"),
    (dict(gradients="misshapen"), "gradients[W1]: has shape (3, 2) but w0[W1] has shape (2, 3)"),
])
def test_every_bad_argument_is_named(change, match):
    """Each argument check of descend (the mutation run found them untested): the error names
    the argument and what was expected."""
    net, w0, params = setup(2, (2, 3, 2), 0.5, seed=10)
    W1, W2 = net.weights
    grads = dict(zip(net.weights, net.gradient))
    kw = dict(gradients=grads, w0=dict(w0), lr=0.1, steps=5, params=params)
    if "w0_key" in change:
        kw["w0"] = {"W1": w0[W1], W2: w0[W2]}
    elif "w0_value" in change:
        kw["w0"] = {W1: change["w0_value"], W2: w0[W2]}
    elif change.get("gradients") == "missing":
        kw["gradients"] = lambda state: {W1: np.zeros((2, 3))}
    elif change.get("gradients") == "misshapen":
        kw["gradients"] = lambda state: {W1: np.zeros((3, 2)), W2: np.zeros((3, 2))}
    else:
        kw.update(change)
    g, w, lr, steps = kw.pop("gradients"), kw.pop("w0"), kw.pop("lr"), kw.pop("steps")
    with pytest.raises(ValueError, match=re.escape(match) if "[" in match else match):
        descend(g, w, lr, steps, **kw)


class _Counted:
    """A scalar that counts the multiplications done with it (numpy's matmul on object arrays
    multiplies each of the a*b*c pairs once)."""

    muls = 0

    def __init__(self, v):
        self.v = v

    def __mul__(self, other):
        _Counted.muls += 1
        return _Counted(self.v * other.v)

    def __add__(self, other):
        return _Counted(self.v + (other.v if isinstance(other, _Counted) else other))

    __radd__ = __add__

    def __sub__(self, other):
        return _Counted(self.v - other.v)


def _cheapest_count(h):
    """Multiplications of chain_gradients' plan for widths ``h_0..h_L``, each layer's gradient
    associated the cheaper way: prefix and suffix products, then ``P^T R S^T`` (a product of
    ``a x b`` and ``b x c`` costs ``a b c``)."""
    L = len(h) - 1
    n = sum(h[0] * h[l - 1] * h[l] for l in range(2, L + 1))          # W_1 .. W_l, l >= 2
    n += sum(h[l - 1] * h[l] * h[L] for l in range(1, L))              # W_l .. W_L, l < L
    for l in range(1, L + 1):                                          # G_l = P^T R S^T
        p, s = l > 1, l < L       # P = W_1..W_{l-1} (h_0 x h_{l-1}), S = W_{l+1}..W_L (h_l x h_L)
        if p and s:
            n += min(h[l - 1] * h[0] * h[L] + h[l - 1] * h[L] * h[l],    # (P^T R) S^T
                     h[0] * h[L] * h[l] + h[l - 1] * h[0] * h[l])        # P^T (R S^T)
        elif p:
            n += h[l - 1] * h[0] * h[L]
        elif s:
            n += h[0] * h[L] * h[l]
    return n


# hand-picked shapes, then 60 drawn ones (widths 1..9, 3 to 5 layers): a cost formula changed in
# one term picks the other association on some of them
_SHAPES = [(1, 5, 1, 5), (5, 1, 5, 1), (2, 7, 1, 3, 6), (6, 3, 1, 7, 2), (1, 4, 9, 2, 1),
           (3, 1, 8, 1, 3), (4, 4, 4, 4), (1, 2, 3, 4, 5, 6), (6, 5, 4, 3, 2, 1)]
_rs = np.random.default_rng(2024)
_SHAPES += [tuple(int(x) for x in _rs.integers(1, 10, int(_rs.integers(4, 7)))) for _ in range(60)]


@pytest.mark.parametrize("h", _SHAPES)
def test_chain_gradients_associate_each_layer_the_cheaper_way(h):
    # the rounding of the two associations differs only in the last bits, so the choice is seen
    # by counting: every product done on scalars that count their multiplications
    L = len(h) - 1
    ws = [sp.MatrixSymbol(f"W{l}", h[l - 1], h[l]) for l in range(1, L + 1)]
    Y = sp.MatrixSymbol("Y", h[0], h[L])
    rng = np.random.default_rng(sum(h))
    state = {s: np.vectorize(_Counted, otypes=[object])(rng.integers(-3, 4, s.shape))
             for s in ws + [Y]}
    _Counted.muls = 0
    grads = chain_gradients(ws, Y)(state)
    assert _Counted.muls == _cheapest_count(h)
    assert set(grads) == set(ws)   # their values: test_chain_gradients_equal_symbolic


def test_chain_gradients_need_a_layer():
    with pytest.raises(ValueError, match="weights: expected at least one MatrixSymbol"):
        chain_gradients([], sp.MatrixSymbol("Y", 1, 1))


def test_weights_that_run_away_are_a_divergence_at_once():
    """The weight limit (1e12 x (initial max |W| + 1)), checked every step, stops a run whose loss
    is not recorded: the step at which it is crossed is named."""
    net, w0, params = setup(2, (1, 1, 1), 1.0, seed=3)
    W1, W2 = net.weights
    w0 = {W1: np.array([[2.0]]), W2: np.array([[2.0]])}
    with pytest.raises(DivergenceError, match=r"diverged at step (\d+) .*max\|W\d\|") as e:
        descend(dict(zip(net.weights, net.gradient)), w0, 1.0, 50, params={net.target: np.zeros((1, 1))},
                record_every=1000, dps=None)
    # w -> w - w^3 from 2: 2, -6, 210, ...: |w| passes 1e12 * 3 at step 4
    assert int(e.value.args[0].split("step ")[1].split()[0]) == 4


def test_progress_every_hundredth_of_the_run_and_at_its_end():
    A = sp.MatrixSymbol("A", 1, 1)
    calls = []
    descend({A: A}, {A: np.eye(1)}, 0.01, 250, progress=lambda k, n: calls.append((k, n)), dps=None)
    assert calls == [(k, 250) for k in range(2, 251, 2)]               # 250 // 100 = 2


@pytest.mark.parametrize("dps", [None, 30])
def test_the_limits_are_relative_to_the_start(dps):
    """max|W| > 1e12 (max|W0| + 1) and loss > 1e12 (loss0 + 1) are divergence. One step of lr 1 on
    dL/dA = A - Y lands exactly on Y: from A = 1e3 a target just inside 1.001e15 is reached, one
    just outside is refused; from A = 1 with the loss |A|^2 / 2 recorded (limit 1.5e12), 1.7e6
    (loss 1.445e12) is reached and 1.8e6 (1.62e12) refused."""
    A, Y = sp.MatrixSymbol("A", 1, 1), sp.MatrixSymbol("Y", 1, 1)
    step = {A: A - Y}

    def run(a0, y, **kw):
        return descend(step, {A: [[a0]]}, 1, 1, params={Y: [[y]]}, dps=dps, **kw)
    assert float(run(1e3, 1.0005e15).final[A][0, 0]) == 1.0005e15
    with pytest.raises(DivergenceError, match=r"diverged at step 1 .*max\|A\|"):
        run(1e3, 1.002e15)
    loss = sp.Trace(A.T * A) / 2
    assert float(run(1.0, 1.7e6, loss=loss).losses[-1]) == pytest.approx(1.445e12)
    with pytest.raises(DivergenceError, match=r"diverged at step 1 \(loss"):
        run(1.0, 1.8e6, loss=loss)


# -- written for the mutants a cosmic-ray run left alive (mutation/README.md) -----------------------

def test_zero_steps_and_one_layer_chains_are_runs_too():
    A, Y = sp.MatrixSymbol("A", 2, 2), sp.MatrixSymbol("Y", 2, 2)
    tr = descend(chain_gradients([A], Y), {A: np.eye(2)}, 0.1, 0, params={Y: np.zeros((2, 2))}, dps=None)
    assert tr.steps == (0,) and np.array_equal(tr.final[A], np.eye(2))
    tr = descend(chain_gradients([A], Y), {A: np.eye(2)}, 0.5, 1, params={Y: np.zeros((2, 2))}, dps=None)
    assert np.array_equal(tr.final[A], 0.5 * np.eye(2))          # one layer: the gradient is A - Y


def test_the_last_step_is_recorded_for_any_step_count():
    A = sp.MatrixSymbol("A", 1, 1)
    tr = descend({A: A}, {A: np.eye(1)}, 0.001, 300, record_every=7, dps=None)
    assert tr.steps[-2:] == (294, 300) and len(tr.steps) == 44


def test_progress_is_every_hundredth_rounded_down():
    A = sp.MatrixSymbol("A", 1, 1)
    calls = []
    descend({A: A}, {A: np.eye(1)}, 0.001, 990, progress=lambda k, n: calls.append(k), dps=None)
    assert calls == list(range(9, 991, 9))                            # 990 // 100 = 9


def test_params_the_gradients_do_not_use_are_allowed():
    A, Y, Z = (sp.MatrixSymbol(n, 1, 1) for n in "AYZ")
    tr = descend({A: A - Y}, {A: [[0.0]]}, 1, 1, params={Y: [[2.0]], Z: [[5.0]]}, dps=None)
    assert tr.final[A][0, 0] == 2.0


def test_weights_must_be_matrices_and_gradients_their_shape():
    A = sp.MatrixSymbol("A", 2, 2)
    with pytest.raises(ValueError, match=r"w0\[A\]: expected a 2-d array, got shape \(1, 2, 2\)"):
        descend({A: A}, {A: np.ones((1, 2, 2))}, 0.1, 1, dps=None)
    B = sp.MatrixSymbol("B", 3, 1)
    with pytest.raises(ValueError, match=r"gradients\[B\]: has shape \(1, 3\) but w0\[B\] has shape \(3, 1\)"):
        descend(lambda st: {B: np.zeros((1, 3))}, {B: np.ones((3, 1))}, 0.1, 1, dps=None)


def test_a_loss_needs_values_for_its_symbols():
    A, Q = sp.MatrixSymbol("A", 1, 1), sp.MatrixSymbol("Q", 1, 1)
    with pytest.raises(ValueError, match="loss: no value for Q"):
        descend({A: A}, {A: [[1.0]]}, 0.1, 1, loss=sp.Trace(Q.T * A), dps=None)


@pytest.mark.parametrize("dps", [None, 30])
def test_a_weight_on_the_limit_is_inside(dps):
    # from A = 0 the limit is 1e12 exactly; one step of lr 1 on A - Y lands on Y
    A, Y = sp.MatrixSymbol("A", 1, 1), sp.MatrixSymbol("Y", 1, 1)
    tr = descend({A: A - Y}, {A: [[0.0]]}, 1, 3, params={Y: [[1e12]]}, dps=dps)
    assert float(tr.final[A][0, 0]) == 1e12
    with pytest.raises(DivergenceError, match="diverged at step 1"):     # half a unit past it: out
        descend({A: A - Y}, {A: [[0.0]]}, 1, 1, params={Y: [[1e12 + 0.5]]}, dps=dps)


def test_an_empty_layer_adds_nothing_to_the_limit():
    # max|W0| over an empty layer is 0 (not 1): with A0 = 0.5 the limit stays 1.5e12
    A, Y, E = sp.MatrixSymbol("A", 1, 1), sp.MatrixSymbol("Y", 1, 1), sp.MatrixSymbol("E", 0, 2)
    with workdps(30):
        w0 = {A: asarray([[0.5]]), E: asarray(np.zeros((0, 2)))}
        with pytest.raises(DivergenceError, match=r"diverged at step 1 .*max\|A\|"):
            descend({A: A - Y, E: E}, w0, 1, 1, params={Y: asarray([[1.6e12]])})


def test_keywords_and_defaults_of_descend():
    A = sp.MatrixSymbol("A", 1, 1)
    calls = []
    tr = descend(gradients={A: A}, w0={A: np.eye(1)}, lr=0.5, steps=3, dps=None)   # all by keyword
    assert tr.steps == (0, 1, 2, 3)                                    # every step by default
    descend({A: A}, {A: np.eye(1)}, 0.0001, 1000, progress=lambda k, n: calls.append(k), dps=None)
    assert calls == list(range(10, 1001, 10))                          # 1000 // 100 = 10
    calls.clear()
    descend({A: A}, {A: np.eye(1)}, 0.001, 301, progress=lambda k, n: calls.append(k), dps=None)
    assert calls == list(range(3, 301, 3)) + [301]                     # the last, off the grid
    import dataclasses
    with pytest.raises(dataclasses.FrozenInstanceError):
        tr.steps = ()


def test_gradients_that_are_not_polynomials_are_evaluated_as_they_stand():
    # d/dA of tr(A^T A)^2 / 4 is tr(A^T A) A: a trace times a matrix, which the factored
    # compiler refuses; one step against the update written out
    A = sp.MatrixSymbol("A", 2, 2)
    a0 = np.array([[1.0, 2.0], [0.5, -1.0]])
    tr = descend({A: sp.Trace(A.T * A) * A}, {A: a0}, 0.01, 1, dps=None)
    assert np.array_equal(tr.final[A], a0 - 0.01 * (np.trace(a0.T @ a0) * a0))


def test_gradients_for_what_is_not_a_weight_are_refused():
    A, Y = sp.MatrixSymbol("A", 1, 1), sp.MatrixSymbol("Y", 1, 1)
    with pytest.raises(ValueError, match="gradients: Y has no initial value in w0"):
        descend({A: A - Y, Y: Y}, {A: [[1.0]]}, 0.1, 1, params={Y: [[0.0]]}, dps=None)
    W1, W2, W3 = (sp.MatrixSymbol(f"W{i}", 1, 1) for i in (1, 2, 3))
    with pytest.raises(ValueError, match="the callable returned no gradient for W2$"):
        descend(lambda st: {W1: st[W1]}, {W1: [[1.0]], W2: [[1.0]], W3: [[1.0]]}, 0.1, 1, dps=None)


@pytest.mark.parametrize("dps", [None, 30])
def test_the_loss_limit_is_exactly_1e12_times_the_start_plus_one(dps):
    # from A = 0 (loss 0) the limit is 1e12; the loss tr(A^T A) after one step of lr 1 is Y^2
    A, Y = sp.MatrixSymbol("A", 1, 1), sp.MatrixSymbol("Y", 1, 1)
    loss = sp.Trace(A.T * A)

    def run(y):
        return descend({A: A - Y}, {A: [[0.0]]}, 1, 1, params={Y: [[y]]}, loss=loss, dps=dps)
    assert float(run(1e6).losses[-1]) == 1e12                          # on the limit: inside
    # the message in each backend's format (mpmath's nstr writes 1.0e+12)
    with pytest.raises(DivergenceError, match=r"diverged at step 1 \(loss 1e\+12\)" if dps is None
                       else r"diverged at step 1 \(loss 1\.0e\+12\)"):
        run(1e6 + 2.0 ** -22)                                          # loss 1e12 + 0.48: out


def test_the_weight_limit_at_30_digits_is_not_rounded_to_float64():
    # 1e12 + 1e-6 is above the limit 1e12 but rounds to it in float64 (spacing 1.2e-4 there)
    A, Y = sp.MatrixSymbol("A", 1, 1), sp.MatrixSymbol("Y", 1, 1)
    with workdps(30):
        y = mpmath.mpf(10) ** 12 + mpmath.mpf(10) ** -6
        with pytest.raises(DivergenceError, match=r"diverged at step 1 .*max\|A\| = 1\.0e\+12"):
            descend({A: A - Y}, {A: asarray([[0.0]])}, 1, 1, params={Y: np.array([[y]], dtype=object)})


def test_divergence_messages_give_six_digits():
    A, Y = sp.MatrixSymbol("A", 1, 1), sp.MatrixSymbol("Y", 1, 1)
    for dps in (None, 30):
        # 1234567.8^2 = 1524157653933.84: six significant digits 1.52416e+12
        with pytest.raises(DivergenceError, match=r"\(loss 1\.52416e\+12\)"):
            descend({A: A - Y}, {A: [[0.0]]}, 1, 1, params={Y: [["1234567.8"]]}, loss=sp.Trace(A.T * A), dps=dps)


def test_an_empty_layer_adds_nothing_to_the_limit_in_float64():
    A, Y, E = sp.MatrixSymbol("A", 1, 1), sp.MatrixSymbol("Y", 1, 1), sp.MatrixSymbol("E", 0, 2)
    with pytest.raises(DivergenceError, match=r"diverged at step 1 .*max\|A\|"):
        descend({A: A - Y, E: E}, {A: [[0.5]], E: np.zeros((0, 2))}, 1, 1, params={Y: [[1.6e12]]}, dps=None)
