"""Independent numpy implementations of min2023's bounds, written from the brief's explicit
formulas (sums over indices, operator applied to a basis) rather than from theory/."""
import numpy as np


def desc_eig(a):
    return np.linalg.eigvalsh((a + a.T) / 2)[::-1]


def lambda_min_T(ws):
    """Smallest eigenvalue of E -> sum_l P_l P_l^T E S_l^T S_l."""
    return desc_eig(T_matrix(ws))[-1]


def T_matrix(ws):
    """The matrix of E -> sum_l P_l P_l^T E S_l^T S_l on column-major vec(E), column by column."""
    n, m = ws[0].shape[0], ws[-1].shape[1]
    cols = []
    for j in range(m):
        for i in range(n):
            E = np.zeros((n, m))
            E[i, j] = 1.0
            out = np.zeros((n, m))
            for l in range(len(ws)):
                P = np.eye(n)
                for w in ws[:l]:
                    P = P @ w
                S = np.eye(ws[l].shape[1])
                for w in ws[l + 1:]:
                    S = S @ w
                out += P @ P.T @ E @ (S.T @ S)
            cols.append(out.flatten(order="F"))
    return np.array(cols).T


def g_three_layer(W1, W2, W3):
    """Lemma G.1: lambda_n(W1 W2 W2^T W1^T) + lambda_n(W1 W1^T) lambda_m(W3^T W3) + lambda_m(W3^T W2^T W2 W3)."""
    least = lambda M: desc_eig(M)[-1]   # n x n and m x m: the n-th and m-th are the least
    A, B = W1 @ W2, W2 @ W3
    return least(A @ A.T) + least(W1 @ W1.T) * least(W3.T @ W3) + least(B.T @ B)


def delta_star(W1, W2, W3):
    n, m = W1.shape[0], W3.shape[1]
    a = desc_eig(W2 @ W2.T - W1.T @ W1)
    b = desc_eig(W2.T @ W2 - W3 @ W3.T)
    h1, h2 = len(a), len(b)
    k = max(h1, h2)
    dbar = np.maximum(np.maximum(np.r_[a, np.zeros(k - h1)], np.r_[b, np.zeros(k - h2)]), 0)

    def parts(h, r, lam):
        one = sum(max(dbar[i - 1] - lam[i - r], 0.0) for i in range(r, h + 1))
        two = sum(dbar[i - 1] ** 2 - min(dbar[i - 1], lam[i - r]) ** 2 for i in range(r, h + 1))
        return one, two

    d21, d21_2 = parts(h1, n, a)
    d23, d23_2 = parts(h2, m, b)
    return 0.5 * (d21_2 + d21**2) + d21 * d23 + 0.5 * (d23_2 + d23**2)


def lemma3_rhs(W1, W2):
    """min2023 (9): -D+ + sqrt((D+ + D)^2 + 4 s_n(W)^2) - D- + sqrt((D- + D)^2 + 4 s_m(W)^2)."""
    n, m = W1.shape[0], W2.shape[1]
    ev = desc_eig(W1.T @ W1 - W2 @ W2.T)
    p = lambda x: max(x, 0.0)
    lam_n = ev[n - 1] if n <= len(ev) else -np.inf
    lam_m_neg = -ev[len(ev) - m] if m <= len(ev) else -np.inf
    dp, dm, d = p(ev[0]) - p(lam_n), p(-ev[-1]) - p(lam_m_neg), p(lam_n) + p(lam_m_neg)
    s = np.linalg.svd(W1 @ W2, compute_uv=False)
    sv = lambda k: s[k - 1] if k <= len(s) else 0.0
    return -dp + np.sqrt((dp + d) ** 2 + 4 * sv(n) ** 2) - dm + np.sqrt((dm + d) ** 2 + 4 * sv(m) ** 2)


def alpha2(W1, W2, Y):
    n, m = Y.shape
    D = W1.T @ W1 - W2 @ W2.T
    ev = desc_eig(D)
    p = lambda x: max(x, 0.0)
    lam_n = ev[n - 1] if n <= len(ev) else -np.inf
    lam_m_neg = -ev[len(ev) - m] if m <= len(ev) else -np.inf
    dp = p(ev[0]) - p(lam_n)
    dm = p(-ev[-1]) - p(lam_m_neg)
    d = p(lam_n) + p(lam_m_neg)
    s = np.linalg.svd(Y, compute_uv=False)
    sv = lambda k: s[k - 1] if k <= len(s) else 0.0
    dist = np.linalg.norm(W1 @ W2 - Y)
    nu_n, nu_m = p(sv(n) - dist), p(sv(m) - dist)
    return 0.5 * (-dp + np.sqrt((dp + d) ** 2 + 4 * nu_n**2) - dm + np.sqrt((dm + d) ** 2 + 4 * nu_m**2))


def theorem3_unimodal(ws, lstar):
    n, m = ws[0].shape[0], ws[-1].shape[1]
    L = len(ws)
    D = [ws[l].T @ ws[l] - ws[l + 1] @ ws[l + 1].T for l in range(L - 1)]  # D[l-1] = D_l
    prod = 1.0
    for i in range(1, L):
        if i >= lstar:
            prod *= sum(desc_eig(-D[l - 1])[m - 1] for l in range(lstar, i + 1))
        else:
            prod *= sum(desc_eig(D[l - 1])[n - 1] for l in range(i, lstar))
    return prod


def theorem3_homogeneous(ws, lstar):
    """sqrt((prod of the cumulative imbalances)^2 + (L sigma_min(W)^(2 - 2/L))^2)."""
    L = len(ws)
    W = ws[0]
    for w in ws[1:]:
        W = W @ w
    smin = np.linalg.svd(W, compute_uv=False)[min(W.shape) - 1]
    return np.hypot(theorem3_unimodal(ws, lstar), L * smin ** (2 - 2 / L))


def naive_trace_rank(phi, params, point, levels=3):
    """The rank at ``point`` of the Lie algebra of the fields grad phi_i, written the plain SymPy way
    (Matrix.jacobian, every bracket of every level kept, exact rationals, Matrix.rank): no pruning,
    no modular arithmetic, nothing shared with flowcert.theory._laws."""
    import sympy as sp
    x = sp.Matrix(params)
    gens = [sp.Matrix([f]).jacobian(x).T for f in phi]
    subs = dict(zip(params, point))
    cols = list(gens)
    level = list(gens)
    rank = sp.Matrix.hstack(*cols).subs(subs).rank()
    for _ in range(levels):
        nxt = []
        for g in gens:
            for b in level:
                br = (b.jacobian(x) * g - g.jacobian(x) * b).applyfunc(sp.expand)
                if any(br):
                    nxt.append(br)
        if not nxt:
            break
        cols += nxt
        new_rank = sp.Matrix.hstack(*cols).subs(subs).rank()
        level = nxt
        if new_rank == rank:
            break
        rank = new_rank
    return rank


def naive_jacobian_rank(laws, params, point):
    """The rank at ``point`` of the Jacobian of the laws (exact rationals, plain SymPy)."""
    import sympy as sp
    if not laws:
        return 0
    J = sp.Matrix(laws).jacobian(sp.Matrix(params))
    return J.subs(dict(zip(params, point))).rank()
