"""The profiled criterion of nested levels, by integrating out one level at a time.

Levels are numbered outermost first (0 = e.g. schools). The innermost groups' rows are reduced
once, independently of theta, to pseudo-rows (blocks.reduce_rows on the group's own random-effect
columns): q rows [R | E] that carry everything the group says about its own effects, and a
left-over Gram W0 of the remaining columns [ancestors' Z | X | y]. Given its ancestors' effects,
the pseudo-rows have covariance sigma^2 K, K = I + B B' with B = R Lambda, so L^-1 (L L' = K)
whitens them: F = L^-1 E are rows with independent sigma^2 noise, exactly like data rows. A
group's contribution to its parent is therefore the Gram W0 + F'F over [ancestors' Z | X | y] (a
sum of squares, never a difference), and the parent's Gram is the sum of its children's. The
parent level is then treated the same way (its pseudo-rows now depend on theta), up to the
outermost level, whose summed contributions are C = [X y]' V^-1 [X y] sigma^2. The
log-determinant log|Lambda'Z'Z Lambda + I| = log|V| is the sum of log|K| over every group of every
level (each step is an orthogonal rotation followed by the whitening L^-1).

This is the block Cholesky factorisation of lme4's Lambda'Z'Z Lambda + I with the effects
ordered innermost first (a school's block holds its classes' blocks and nothing fills in outside
it), written as a recursion over groups so that each step is vectorised over all groups of a level.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import blocks


def parents_of(inner: np.ndarray, outer: np.ndarray, n_inner: int) -> np.ndarray:
    """Each inner group's outer group, from the cells' codes at both levels (-1 for a group
    without cells); ValueError when an inner group's cells lie in two outer groups."""
    parent = np.full(n_inner, -1, dtype=np.int64)
    parent[inner] = outer
    if np.any(parent[inner] != outer):
        raise ValueError("levels are not nested: a group lies in two groups of the level above")
    return parent


class Nested:
    """Nested levels' criterion from per-cell Grams.

    cross: (C, k, k) per-cell sums of products of the design columns; z: per level (outermost
    first) the column indices of its random effects; x: indices of the fixed-effect columns; y:
    index of the outcome. codes/n_groups: per level, each cell's group.

    Internally the innermost groups are sorted by their ancestors, so that every level's groups
    are contiguous runs of their children and a sum into parents is one np.add.reduceat over
    the (last, contiguous) group axis; `users[l]` maps a level's internal groups to the caller's
    codes (codes without cells have no data and get their prior in `conditional`)."""

    def __init__(self, cross, counts, z, x, y, codes, n_groups):
        self.n_levels = len(z)
        self.q = [len(cols) for cols in z]
        self.p = len(x)
        self.n = float(np.sum(counts))
        self.n_groups = [int(g) for g in n_groups]
        last = self.n_levels - 1
        codes = [np.asarray(c, dtype=np.int64) for c in codes]
        present = np.unique(codes[last])
        ancestors = [None] * self.n_levels
        ancestors[last] = present
        for level in reversed(range(last)):
            parent = parents_of(codes[level + 1], codes[level], self.n_groups[level + 1])
            ancestors[level] = parent[ancestors[level + 1]]
        order = np.lexsort(ancestors[::-1])
        chain = [a[order] for a in ancestors]
        self.starts = [
            np.flatnonzero(np.r_[True, c[1:] != c[:-1]]) for c in chain
        ]  # per level: the innermost positions where its groups begin
        self.users = [c[s] for c, s in zip(chain, self.starts, strict=True)]
        # summing level l's groups into level l - 1: where each parent's children begin
        self.child_starts = [None] + [
            np.searchsorted(self.starts[lv], self.starts[lv - 1]) for lv in range(1, last + 1)
        ]
        self.parent_index = [None] + [
            np.searchsorted(self.starts[lv - 1], self.starts[lv], side="right") - 1
            for lv in range(1, last + 1)
        ]
        # the innermost groups' sums in internal order (cells and innermost groups coincide
        # when nested, but a finer cell split is summed here)
        internal = np.empty(self.n_groups[last], dtype=np.int64)
        internal[chain[last]] = np.arange(len(present))
        C = len(cross)
        self._ind = sp.csr_matrix(
            (np.ones(C), (internal[codes[last]], np.arange(C))), shape=(len(present), C)
        )
        self._cols = [i for lv in reversed(range(self.n_levels)) for i in z[lv]] + list(x) + [y]
        self.set_cross(cross)

    def set_cross(self, cross: np.ndarray) -> None:
        """(Re)compute the theta-free innermost reduction from per-cell sums of the same cells
        and columns (a logistic model's weighted sums change at every step of its modes)."""
        cols, C = self._cols, len(cross)
        picked = cross[:, cols][:, :, cols]
        m = len(cols)
        S = np.asarray(self._ind @ picked.reshape(C, m * m)).reshape(self._ind.shape[0], m, m)
        self.S_inner = np.ascontiguousarray(S.transpose(1, 2, 0))  # (m, m, G)
        last = self.n_levels - 1
        self.R, self.E, W0 = blocks.reduce_rows(self.S_inner, self.q[last])
        self.det_R = np.prod([self.R[i, i] for i in range(self.q[last])], axis=0)
        self.W0_up = W0.sum(axis=2) if last == 0 else self._sum_up(W0, last)

    def _sum_up(self, T: np.ndarray, level: int) -> np.ndarray:
        """Level `level`'s blocks (..., G) summed into their parents' (level - 1)."""
        return np.add.reduceat(T, self.child_starts[level], axis=-1)

    def evaluate(self, lams: list[np.ndarray], keep: bool = False):
        """(C, log|V|, Grams per level or None) at the relative factors `lams` (outermost
        first). The Grams (what each level's groups see before their own effects are
        integrated out, (m, m, G)) are kept for the conditional modes."""
        last = self.n_levels - 1
        kept = [None] * self.n_levels
        if keep:
            kept[last] = self.S_inner
        lam = lams[last]
        B = blocks.times_lower(self.R, lam)
        L, logk = blocks.chol_identity_plus(B, self.det_R * np.prod(np.diag(lam)))
        logdet = float(logk.sum())
        F = blocks.solve_lower(L, self.E)
        if last == 0:
            return self.W0_up + blocks.gram_last(F).sum(axis=2), logdet, kept
        m = F.shape[1]
        S = self.W0_up + blocks.unpack(self._sum_up(blocks.gram_packed(F), last), m)
        for level in reversed(range(last)):
            if keep:
                kept[level] = S
            lam = lams[level]
            q = self.q[level]
            R, E, W0 = blocks.reduce_rows(S, q)
            det_R = np.prod([R[i, i] for i in range(q)], axis=0)
            L, logk = blocks.chol_identity_plus(
                blocks.times_lower(R, lam), det_R * np.prod(np.diag(lam))
            )
            logdet += float(logk.sum())
            T = W0 + blocks.gram_last(blocks.solve_lower(L, E))
            S = T.sum(axis=2) if level == 0 else self._sum_up(T, level)
        return S, logdet, kept

    def conditional(self, lams, beta: np.ndarray, sigma2: float, spherical: bool = False):
        """Conditional modes (G_l, q_l) and conditional covariances (G_l, q_l, q_l) of every
        level's effects given the data (at beta), outermost first, in the caller's codes.

        Top down: a level's effects given its ancestors' are normal with mean m0 - G b_anc and
        covariance sigma^2 Lambda M^-1 Lambda' (M = I + Lambda'S_zz Lambda, from the level's
        Gram S); the ancestors' joint posterior is carried along, so the variances are the exact
        diagonal blocks of sigma^2 Lambda (Lambda'Z'Z Lambda + I)^-1 Lambda'. A group without
        data keeps its prior: mode 0, covariance sigma^2 Lambda Lambda'. With `spherical`, also
        the modes of u (b = Lambda u), per level in internal order (what a penalty ||u||^2
        needs when Lambda is singular)."""
        _, _, grams = self.evaluate(lams, keep=True)
        modes, covs, spherical_modes = [], [], []
        joint_mean = joint_cov = None
        for level in range(self.n_levels):
            S = grams[level].transpose(2, 0, 1)  # groups first from here on
            q, lam = self.q[level], lams[level]
            m = S.shape[1]
            a = m - q - self.p - 1
            v = np.zeros(m)
            v[q + a : q + a + self.p] = -beta
            v[-1] = 1.0
            S_zr = S[:, :q, :] @ v  # (G, q): Z'(y - X beta) in the level's whitened rows
            S_zz, S_za = S[:, :q, :q], S[:, :q, q : q + a]
            M = np.eye(q) + np.einsum("ba,gbc,cd->gad", lam, S_zz, lam)
            Hu = np.einsum("gab,cb->gac", np.linalg.inv(M), lam)  # M^-1 Lambda'
            H = np.einsum("ab,gbc->gac", lam, Hu)  # Lambda M^-1 Lambda'
            mean = np.einsum("gab,gb->ga", H, S_zr)
            u = np.einsum("gab,gb->ga", Hu, S_zr)
            cov = sigma2 * H
            if level == 0:
                joint_mean, joint_cov = mean, cov
            else:
                Gm = H @ S_za  # (G, q, a): how the effects move with the ancestors'
                parent = self.parent_index[level]
                pm, pc = joint_mean[parent], joint_cov[parent]
                mean = mean - np.einsum("gab,gb->ga", Gm, pm)
                u = u - np.einsum("gab,gbc,gc->ga", Hu, S_za, pm)
                cross = -(Gm @ pc)  # Cov(b, b_anc)
                cov = cov + cross @ -Gm.transpose(0, 2, 1)
                top = np.concatenate([cov, cross], axis=2)
                bottom = np.concatenate([cross.transpose(0, 2, 1), pc], axis=2)
                joint_mean = np.concatenate([mean, pm], axis=1)
                joint_cov = np.concatenate([top, bottom], axis=1)
            full_mean = np.zeros((self.n_groups[level], q))
            full_cov = np.broadcast_to(sigma2 * lam @ lam.T, (self.n_groups[level], q, q)).copy()
            full_mean[self.users[level]] = mean
            full_cov[self.users[level]] = cov
            modes.append(full_mean)
            covs.append(full_cov)
            spherical_modes.append(u)
        if spherical:
            return modes, covs, spherical_modes
        return modes, covs

    def spherical_modes(self, lams, beta: np.ndarray) -> list[np.ndarray]:
        """The conditional means of u (b = Lambda u) per level in internal order, without the
        covariances: what each step of a logistic model's penalised IRLS needs. Top down, a
        level's mean given its ancestors' means is M^-1 Lambda'(S_zr - S_za b_anc)."""
        _, _, grams = self.evaluate(lams, keep=True)
        out, b_chain = [], None
        for level in range(self.n_levels):
            S = grams[level]  # (m, m, G), groups last
            q, lam = self.q[level], lams[level]
            m = S.shape[0]
            a = m - q - self.p - 1
            # right-hand side: Z'(y - X beta) minus what the ancestors' effects explain
            rhs = S[:q, -1].copy()
            for j in range(self.p):
                rhs -= S[:q, q + a + j] * beta[j]
            if level:
                b_chain = b_chain[:, self.parent_index[level]]
                for j in range(a):
                    rhs -= S[:q, q + j] * b_chain[j]
            # M = I + Lambda' S_zz Lambda and its solve, entry by entry over groups
            St = np.einsum("ba,bcg,cd->adg", lam, S[:q, :q], lam)
            M = St + np.eye(q)[:, :, None]
            u = np.linalg.solve(M.transpose(2, 0, 1), (lam.T @ rhs).T[:, :, None])[:, :, 0].T
            b = lam @ u
            out.append(u.T)
            b_chain = b if level == 0 else np.concatenate([b, b_chain], axis=0)
        return out
