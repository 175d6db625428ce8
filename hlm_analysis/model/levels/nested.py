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


def indicator(parent: np.ndarray, n_parents: int) -> sp.csr_matrix:
    """(n_parents, G) 0/1 matrix summing groups into their parents."""
    G = len(parent)
    return sp.csr_matrix((np.ones(G), (parent, np.arange(G))), shape=(n_parents, G))


def parents_of(inner: np.ndarray, outer: np.ndarray, n_inner: int) -> np.ndarray:
    """Each inner group's outer group, from the cells' codes at both levels; ValueError when an
    inner group's cells lie in two outer groups (the levels are not nested)."""
    parent = np.full(n_inner, -1, dtype=np.int64)
    parent[inner] = outer
    if np.any(parent[inner] != outer):
        raise ValueError("levels are not nested: a group lies in two groups of the level above")
    # a group without cells (a code never used) has no data; any parent serves
    parent[parent < 0] = 0
    return parent


class Nested:
    """Nested levels' criterion from per-cell Grams.

    cross: (C, k, k) per-cell sums of products of the design columns; z: per level (outermost
    first) the column indices of its random effects; x: indices of the fixed-effect columns; y:
    index of the outcome. codes/n_groups: per level, each cell's group."""

    def __init__(self, cross, counts, z, x, y, codes, n_groups):
        self.n_levels = len(z)
        self.q = [len(cols) for cols in z]
        self.p = len(x)
        self.n = float(np.sum(counts))
        self.n_groups = [int(g) for g in n_groups]
        last = self.n_levels - 1
        codes = [np.asarray(c, dtype=np.int64) for c in codes]
        # the innermost groups' sums (cells and innermost groups coincide when nested, but a
        # finer cell split is summed here)
        inner = indicator(codes[last], self.n_groups[last])
        flat = cross.reshape(len(cross), -1)
        cross_inner = np.asarray(inner @ flat).reshape(self.n_groups[last], *cross.shape[1:])
        self.parents = [None] + [
            parents_of(codes[lv], codes[lv - 1], self.n_groups[lv]) for lv in range(1, last + 1)
        ]
        self.sum_into = [None] + [
            indicator(self.parents[lv], self.n_groups[lv - 1]) for lv in range(1, last + 1)
        ]
        cols = [i for lv in reversed(range(self.n_levels)) for i in z[lv]] + list(x) + [y]
        self.S_inner = cross_inner[:, cols][:, :, cols]
        self.R, self.E, W0 = blocks.reduce_rows(self.S_inner, self.q[last])
        self.det_R = np.prod(np.diagonal(self.R, axis1=1, axis2=2), axis=1)
        if last == 0:
            self.W0_up = W0.sum(axis=0)
        else:
            self.W0_up = self._sum_up(W0, last)

    def _sum_up(self, T: np.ndarray, level: int) -> np.ndarray:
        """Children's (G, m, m) blocks summed into their parents' at level - 1."""
        m = T.shape[1]
        out = self.sum_into[level] @ T.reshape(len(T), m * m)
        return np.asarray(out).reshape(-1, m, m)

    def evaluate(self, lams: list[np.ndarray], keep: bool = False):
        """(C, log|V|, Grams per level or None) at the relative factors `lams` (outermost
        first). The Grams (what each level's groups see before their own effects are
        integrated out) are kept for the conditional modes."""
        last = self.n_levels - 1
        kept = [None] * self.n_levels
        if keep:
            kept[last] = self.S_inner
        lam = lams[last]
        B = self.R @ lam
        L, logk = blocks.chol_identity_plus(B, self.det_R * np.prod(np.diag(lam)))
        logdet = float(logk.sum())
        F = blocks.forward(L, self.E)
        if last == 0:
            return self.W0_up + blocks.gram(F).sum(axis=0), logdet, kept
        S = self.W0_up + self._sum_up(blocks.gram(F), last)
        for level in reversed(range(last)):
            if keep:
                kept[level] = S
            lam = lams[level]
            R, E, W0 = blocks.reduce_rows(S, self.q[level])
            det_R = np.prod(np.diagonal(R, axis1=1, axis2=2), axis=1)
            L, logk = blocks.chol_identity_plus(R @ lam, det_R * np.prod(np.diag(lam)))
            logdet += float(logk.sum())
            T = W0 + blocks.gram(blocks.forward(L, E))
            S = T.sum(axis=0) if level == 0 else self._sum_up(T, level)
        return S, logdet, kept

    def conditional(self, lams, beta: np.ndarray, sigma2: float):
        """Conditional modes (G_l, q_l) and conditional covariances (G_l, q_l, q_l) of every
        level's effects given the data (at beta), outermost first.

        Top down: a level's effects given its ancestors' are normal with mean m0 - G b_anc and
        covariance sigma^2 Lambda M^-1 Lambda' (M = I + Lambda'S_zz Lambda, from the level's
        Gram S); the ancestors' joint posterior is carried along, so the variances are the exact
        diagonal blocks of sigma^2 Lambda (Lambda'Z'Z Lambda + I)^-1 Lambda'."""
        _, _, grams = self.evaluate(lams, keep=True)
        modes, covs = [], []
        joint_mean = joint_cov = None
        for level in range(self.n_levels):
            S, q, lam = grams[level], self.q[level], lams[level]
            m = S.shape[1]
            a = m - q - self.p - 1
            v = np.zeros(m)
            v[q + a : q + a + self.p] = -beta
            v[-1] = 1.0
            S_zr = S[:, :q, :] @ v  # (G, q): Z'(y - X beta) in the level's whitened rows
            S_zz, S_za = S[:, :q, :q], S[:, :q, q : q + a]
            M = np.eye(q) + np.einsum("ba,gbc,cd->gad", lam, S_zz, lam)
            H = np.einsum("ab,gbc,dc->gad", lam, np.linalg.inv(M), lam)  # Lambda M^-1 Lambda'
            mean = np.einsum("gab,gb->ga", H, S_zr)
            cov = sigma2 * H
            if level == 0:
                joint_mean, joint_cov = mean, cov
            else:
                Gm = H @ S_za  # (G, q, a): how the effects move with the ancestors'
                pm, pc = joint_mean[self.parents[level]], joint_cov[self.parents[level]]
                mean = mean - np.einsum("gab,gb->ga", Gm, pm)
                cross = -(Gm @ pc)  # Cov(b, b_anc)
                cov = cov + cross @ -Gm.transpose(0, 2, 1)
                top = np.concatenate([cov, cross], axis=2)
                bottom = np.concatenate([cross.transpose(0, 2, 1), pc], axis=2)
                joint_mean = np.concatenate([mean, pm], axis=1)
                joint_cov = np.concatenate([top, bottom], axis=1)
            modes.append(mean)
            covs.append(cov)
        return modes, covs
