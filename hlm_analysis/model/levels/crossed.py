"""The profiled criterion of two crossed factors, from per-cell sums (a cell = one observed pair).

With spherical effects u = (u_F, u_S), the system matrix Lambda'Z'Z Lambda + I has a block
diagonal part for the factor with more groups (F: one q_F x q_F block per group), a block diagonal
part for the other (S), and the cross blocks Lambda_F' Z_F'Z_S Lambda_S of the observed cells. The
F blocks are factored all at once (batched small Cholesky); the Schur complement on S,
D = I + Lambda_S'Z_S'Z_S Lambda_S - W'W with W = L_F^-1 (cross blocks), is dense (G_S q_S square)
and factored by LAPACK (or, when the smaller factor has thousands of groups, kept sparse and
factored by SuperLU). This is lme4's sparse Cholesky with the fill-reducing order that puts
the larger factor first; C = [X y]'[X y] - c_F'c_F - c_S'c_S as lme4 computes it.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from . import blocks

# Above this many Schur-complement columns (groups x terms of the smaller factor) D is held
# sparse and factored by a sparse LU (a dense 4,000 x 4,000 Cholesky already takes ~0.3 s)
DENSE_LIMIT = 4000


class Crossed:
    """codes[0], codes[1]: each cell's group in the two factors (in the caller's order);
    internally `f` is the factor with more groups."""

    def __init__(self, cross, counts, z, x, y, codes, n_groups):
        self.n_levels = 2
        self.q = [len(cols) for cols in z]
        self.p = len(x)
        self.n = float(np.sum(counts))
        self.n_groups = [int(g) for g in n_groups]
        self.f = 0 if self.n_groups[0] >= self.n_groups[1] else 1
        self.s = 1 - self.f
        f, s = self.f, self.s
        codes = [np.asarray(c, dtype=np.int64) for c in codes]
        self.codes = codes
        xy = list(x) + [y]
        C = len(cross)
        flat = cross.reshape(C, -1)

        def per_group(level, rows, cols):
            ind = sp.csr_matrix(
                (np.ones(C), (codes[level], np.arange(C))), shape=(self.n_groups[level], C)
            )
            block = cross[:, rows][:, :, cols].reshape(C, -1)
            return np.asarray(ind @ block).reshape(self.n_groups[level], len(rows), len(cols))

        self.ZtZ = [per_group(lv, z[lv], z[lv]) for lv in range(2)]
        self.ZtXy = [per_group(lv, z[lv], xy) for lv in range(2)]
        self.ZfZs = cross[:, z[f]][:, :, z[s]]  # (C, q_f, q_s) per cell
        self.XyXy = cross.sum(axis=0)[np.ix_(xy, xy)]
        del flat
        qf, qs = self.q[f], self.q[s]
        # W's sparsity pattern: cell c's block sits at rows f_c q_f + i, columns s_c q_s + j
        ii, jj = np.meshgrid(np.arange(qf), np.arange(qs), indexing="ij")
        self.W_rows = (codes[f][:, None, None] * qf + ii[None]).ravel()
        self.W_cols = (codes[s][:, None, None] * qs + jj[None]).ravel()
        self.W_shape = (self.n_groups[f] * qf, self.n_groups[s] * qs)

    def _parts(self, lams):
        """Lf (F blocks' factors), cF = Lf^-1 Lambda_F'Z_F'[X y], W, solve (b -> D^-1 b),
        rhs = Lambda_S'Z_S'[X y] - W'cF, log|Lambda'Z'Z Lambda + I|."""
        f, s = self.f, self.s
        lf, ls = lams[f], lams[s]
        Mf = np.eye(self.q[f]) + np.einsum("ba,gbc,cd->gad", lf, self.ZtZ[f], lf)
        Lf = np.linalg.cholesky(Mf)
        logdet = 2.0 * float(np.log(np.diagonal(Lf, axis1=1, axis2=2)).sum())
        cF = blocks.forward_stack(Lf, np.einsum("ba,gbm->gam", lf, self.ZtXy[f]))
        Wc = blocks.forward_stack(Lf[self.codes[f]], np.einsum("ba,gbc,cd->gad", lf, self.ZfZs, ls))
        W = sp.csr_matrix((Wc.ravel(), (self.W_rows, self.W_cols)), shape=self.W_shape)
        Ms = np.eye(self.q[s]) + np.einsum("ba,gbc,cd->gad", ls, self.ZtZ[s], ls)
        rhs = np.einsum("ba,gbm->gam", ls, self.ZtXy[s]).reshape(self.W_shape[1], -1)
        rhs -= W.T @ cF.reshape(self.W_shape[0], -1)
        if self.W_shape[1] <= DENSE_LIMIT:
            D = _block_diag(Ms) - (W.T @ W).toarray()
            factor = sla.cho_factor(D, lower=True)
            logdet += 2.0 * float(np.log(np.diag(factor[0])).sum())

            def solve(b):
                return sla.cho_solve(factor, b)

        else:  # many groups in both factors: a sparse LU of the Schur complement (SPD, so
            # log|D| is the sum of log|U_ii|)
            # block-diagonal part built as block sparse rows (scipy's block_diag of dense
            # blocks is changing its return type and warns about it)
            G, q = Ms.shape[0], Ms.shape[1]
            blocks_diag = sp.bsr_matrix((Ms, np.arange(G), np.arange(G + 1)), shape=(G * q, G * q))
            D = (blocks_diag.tocsc() - (W.T @ W)).tocsc()
            lu = spla.splu(D)
            logdet += float(np.log(np.abs(lu.U.diagonal())).sum())

            def solve(b):
                return lu.solve(np.asarray(b, float))

        return Lf, cF, W, solve, rhs, logdet

    def evaluate(self, lams, keep: bool = False):
        _, cF, _, solve, rhs, logdet = self._parts(lams)
        flat = cF.reshape(-1, cF.shape[2])
        C = self.XyXy - flat.T @ flat - rhs.T @ solve(rhs)
        return (C + C.T) / 2, logdet, None

    def spherical_modes(self, lams, beta: np.ndarray) -> list[np.ndarray]:
        """The conditional means of u (b = Lambda u) of both factors, (G_l, q_l) in the
        caller's order, without the covariances: what each step of a logistic model's penalised
        IRLS needs (the back substitution of `conditional`)."""
        f, s = self.f, self.s
        Lf, cF, W, solve, rhs, _ = self._parts(lams)
        v = np.append(-beta, 1.0)
        uS = solve(rhs @ v)
        rF = (cF @ v).ravel() - W @ uS
        out = [None, None]
        out[f] = blocks.backward_stack(Lf, rF.reshape(-1, self.q[f], 1))[:, :, 0]
        out[s] = uS.reshape(-1, self.q[s])
        return out

    def conditional(self, lams, beta: np.ndarray, sigma2: float):
        """Conditional modes and covariances (exact diagonal blocks of sigma^2 Lambda M^-1
        Lambda') of both factors, in the caller's order."""
        f, s = self.f, self.s
        Lf, cF, W, solve, rhs, _ = self._parts(lams)
        v = np.append(-beta, 1.0)
        uS = solve(rhs @ v)
        rF = (cF @ v).ravel() - W @ uS
        qf, qs = self.q[f], self.q[s]
        uF = blocks.backward_stack(Lf, rF.reshape(-1, qf, 1))[:, :, 0]
        modes = [None, None]
        covs = [None, None]
        modes[f] = uF @ lams[f].T
        modes[s] = uS.reshape(-1, qs) @ lams[s].T
        # M^-1 blocks: S: those of D^-1; F: Mf^-1 + Lf'^-1 (W_f D^-1 W_f') Lf^-1, both from
        # solves with D in chunks of columns (D^-1 itself may be too large to hold)
        n_s, GS, GF = self.W_shape[1], self.n_groups[s], self.n_groups[f]
        chunk = max(1, 2_000_000 // max(1, n_s))
        blocks_s = np.empty((GS, qs, qs))
        for start in range(0, GS, chunk):
            stop = min(GS, start + chunk)
            unit = np.zeros((n_s, (stop - start) * qs))
            unit[start * qs : stop * qs] = np.eye((stop - start) * qs)
            cols = solve(unit)[start * qs : stop * qs].reshape(stop - start, qs, stop - start, qs)
            blocks_s[start:stop] = np.einsum("gagb->gab", cols)
        covs[s] = sigma2 * np.einsum("ab,gbc,dc->gad", lams[s], blocks_s, lams[s])
        Minv = np.linalg.inv(Lf @ Lf.transpose(0, 2, 1))
        extra = np.empty_like(Minv)
        Wt = W.T.tocsc()
        for start in range(0, GF, chunk):
            stop = min(GF, start + chunk)
            cols = Wt[:, start * qf : stop * qf].toarray()  # (n_s, chunk qf)
            Y = solve(cols)
            a = cols.reshape(n_s, stop - start, qf)
            b = Y.reshape(n_s, stop - start, qf)
            inner = np.einsum("rga,rgb->gab", a, b)  # W_f D^-1 W_f'
            left = blocks.backward_stack(Lf[start:stop], inner)
            extra[start:stop] = blocks.backward_stack(Lf[start:stop], left.transpose(0, 2, 1))
        covs[f] = sigma2 * np.einsum("ab,gbc,dc->gad", lams[f], Minv + extra, lams[f])
        return modes, covs


def _block_diag(Ms: np.ndarray) -> np.ndarray:
    G, q, _ = Ms.shape
    out = np.zeros((G * q, G * q))
    idx = np.arange(G)[:, None] * q + np.arange(q)[None, :]
    out[idx[:, :, None], idx[:, None, :]] = Ms
    return out
