"""Batched small-matrix steps of the nested and crossed criteria.

The nested criterion keeps groups LAST, (a, b, G), so that every elementwise step runs over
contiguous (G,) vectors; the `_stack` helpers take groups first, (G, a, b), for the crossed one. The random-effect blocks are tiny (q = 1 to
4), so the loops run over the q entries and each step is one vectorised operation over all
groups, which beats a LAPACK call per group by an order of magnitude at 20,000 groups.
"""

from __future__ import annotations

import numpy as np

# A pivot below this fraction of its column's sum of squares is zero: the column is collinear
# within the group (one row, or a slope constant in the group). Rounding leaves ~1e-16 there.
ZERO_PIVOT = 1e-12


def reduce_rows(S: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q steps of a semidefinite Cholesky factorisation of each group's Gram S (m, m, G) on its
    first q columns: the pseudo-rows [R | E] (R (q, q, G) upper triangular, E (q, m - q, G))
    that carry everything the group's rows say about those q directions, and what is left over,
    W0 = S_rest - E'E (m - q, m - q, G). A zero pivot gives a zero pseudo-row."""
    work = np.array(S, dtype=float, copy=True)
    m, _, G = work.shape
    rows = np.zeros((q, m, G))
    for k in range(q):
        pivot = work[k, k]
        scale = S[k, k]
        usable = (pivot > ZERO_PIVOT * np.where(scale > 0, scale, 0.0)) & (pivot > 0)
        root = np.where(usable, np.sqrt(np.where(usable, pivot, 1.0)), np.inf)
        row = rows[k]
        np.divide(work[k, k:], root, out=row[k:])
        # the update of the rest by the outer product of the row, upper triangle then mirrored
        for a in range(k + 1, m):
            work[a, a:] -= row[a] * row[a:]
    for a in range(q, m):
        work[a + 1 :, a] = work[a, a + 1 :]
    return rows[:, :q], rows[:, q:], work[q:, q:]


def times_lower(R: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """R Lambda for a stack R (q, q, G) and one lower-triangular Lambda (q, q)."""
    q = lam.shape[0]
    out = np.zeros_like(R)
    for i in range(q):
        for c in range(q):
            for k in range(c, q):
                if lam[k, c] != 0.0:
                    out[i, c] += R[i, k] * lam[k, c]
    return out


def chol_identity_plus(
    B: np.ndarray, det_b: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Lower Cholesky factors L (q, q, G) of K = I + B B' for a stack B (q, q, G), and log|K|
    per group.

    For q = 1 and 2 by closed forms whose pivots are sums of positive terms (for q = 2 the last
    pivot is |K| / K11 with |K| = 1 + |B|_F^2 + |B|^2), so they keep their accuracy when the rows
    of B are long and nearly parallel (large variance ratios). For q > 2 (rare: three or more
    terms at one level) the plain elementwise Cholesky of K. `det_b`: |B| per group when the caller has
    it as a product (B = R Lambda, both triangular), which avoids the difference b11 b22 - b12 b21."""
    q, _, G = B.shape
    L = np.zeros((q, q, G))
    if q == 1:
        k11 = 1.0 + B[0, 0] ** 2
        L[0, 0] = np.sqrt(k11)
        return L, np.log(k11)
    if q == 2:
        b11, b12, b21, b22 = B[0, 0], B[0, 1], B[1, 0], B[1, 1]
        k11 = 1.0 + b11 * b11 + b12 * b12
        k21 = b11 * b21 + b12 * b22
        if det_b is None:
            det_b = b11 * b22 - b12 * b21
        det = k11 + b21 * b21 + b22 * b22 + det_b * det_b
        d11 = np.sqrt(k11)
        L[0, 0], L[1, 0], L[1, 1] = d11, k21 / d11, np.sqrt(det / k11)
        return L, np.log(det)
    # q > 2: K = I + B B' entry by entry, then an elementwise Cholesky over groups (pivots of
    # I + B B' are at least 1, so no pivot vanishes; a LAPACK call per group costs ~10x more)
    K = np.empty((q, q, G))
    for a in range(q):
        for b in range(a + 1):
            acc = B[a, 0] * B[b, 0]
            for c in range(1, q):
                acc += B[a, c] * B[b, c]
            K[a, b] = acc + (1.0 if a == b else 0.0)
    logk = np.zeros(G)
    for j in range(q):
        pivot = K[j, j] - sum(L[j, c] * L[j, c] for c in range(j)) if j else K[j, j]
        L[j, j] = np.sqrt(pivot)
        logk += np.log(pivot)
        for i in range(j + 1, q):
            acc = K[i, j] - sum(L[i, c] * L[j, c] for c in range(j)) if j else K[i, j]
            L[i, j] = acc / L[j, j]
    return L, logk


def solve_lower(L: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """L^-1 rhs for stacks L (q, q, G) lower triangular and rhs (q, m, G)."""
    out = np.empty_like(rhs)
    for i in range(L.shape[0]):
        acc = rhs[i].copy()
        for k in range(i):
            acc -= L[i, k] * out[k]
        np.divide(acc, L[i, i], out=out[i])
    return out


def gram_last(F: np.ndarray) -> np.ndarray:
    """F'F for a stack F (q, m, G): (m, m, G), the upper triangle computed and mirrored."""
    q, m, G = F.shape
    out = np.empty((m, m, G))
    for a in range(m):
        acc = F[0, a] * F[0, a:]
        for i in range(1, q):
            acc += F[i, a] * F[i, a:]
        out[a, a:] = acc
        out[a + 1 :, a] = acc[1:]
    return out


def gram_packed(F: np.ndarray) -> np.ndarray:
    """The upper triangle of F'F for a stack F (q, m, G), row by row, (m (m + 1) / 2, G): what
    is summed into parents (fewer rows to reduce), unpacked after the sum."""
    q, m, G = F.shape
    out = np.empty((m * (m + 1) // 2, G))
    at = 0
    for a in range(m):
        acc = out[at : at + m - a]
        np.multiply(F[0, a], F[0, a:], out=acc)
        for i in range(1, q):
            acc += F[i, a] * F[i, a:]
        at += m - a
    return out


def unpack(packed: np.ndarray, m: int) -> np.ndarray:
    """(m, m, G) symmetric from its packed upper triangle (gram_packed's layout)."""
    out = np.empty((m, m, packed.shape[1]))
    at = 0
    for a in range(m):
        out[a, a:] = packed[at : at + m - a]
        out[a + 1 :, a] = packed[at + 1 : at + m - a]
        at += m - a
    return out


def forward_stack(L: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """L^-1 rhs for stacks L (G, q, q) lower triangular and rhs (G, q, m)."""
    out = np.empty_like(rhs)
    q = L.shape[1]
    for i in range(q):
        acc = rhs[:, i, :].copy()
        for k in range(i):
            acc -= L[:, i, k, None] * out[:, k, :]
        out[:, i, :] = acc / L[:, i, i, None]
    return out


def backward_stack(L: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """L'^-1 rhs for stacks L (G, q, q) lower triangular and rhs (G, q, m)."""
    out = np.empty_like(rhs)
    q = L.shape[1]
    for i in reversed(range(q)):
        acc = rhs[:, i, :].copy()
        for k in range(i + 1, q):
            acc -= L[:, k, i, None] * out[:, k, :]
        out[:, i, :] = acc / L[:, i, i, None]
    return out


def gram_stack(F: np.ndarray) -> np.ndarray:
    """F'F for a stack F (G, q, m): a sum of q outer products, (G, m, m)."""
    out = F[:, 0, :, None] * F[:, 0, None, :]
    for i in range(1, F.shape[1]):
        out += F[:, i, :, None] * F[:, i, None, :]
    return out


def lambda_of(theta: np.ndarray, q: int) -> np.ndarray:
    """Lower-triangular Lambda from its entries, column-major (lme4's order)."""
    lam = np.zeros((q, q))
    rows, cols = theta_positions(q)
    lam[rows, cols] = theta
    return lam


def theta_positions(q: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.tril_indices(q)
    order = np.lexsort((rows, cols))
    return rows[order], cols[order]


def n_theta(q: int) -> int:
    return q * (q + 1) // 2
