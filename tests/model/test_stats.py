"""Small statistics with known answers (no R needed)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scistats

from hlm_analysis.model import robust, stats
from hlm_analysis.present.predictions import qq_points


def test_cr2_balanced_intercept_only_is_the_t_test_of_cluster_means():
    # Bell & McCaffrey (2002): with an intercept only and equal clusters, CR2 equals the
    # variance of the cluster means over G, and the BM df is exactly G - 1.
    rng = np.random.default_rng(3)
    G, m = 6, 7
    codes = np.repeat(np.arange(G), m)
    y = rng.normal(size=G * m) + rng.normal(size=G)[codes]
    X = np.ones((G * m, 1))
    fit = robust.cr2(y, X, np.empty((G * m, 0)), codes, np.empty(0), np.array([y.mean()]))
    cov, df = fit.cov, fit.df
    means = np.array([y[codes == g].mean() for g in range(G)])
    assert cov[0, 0] == pytest.approx(means.var(ddof=1) / G, rel=1e-10)
    assert df[0] == pytest.approx(G - 1, rel=1e-10)


def test_cr2_df_is_small_with_few_clusters():
    rng = np.random.default_rng(4)
    codes = np.repeat(np.arange(4), 25)
    X = np.column_stack([np.ones(100), rng.normal(size=100)])
    y = X @ [1.0, 2.0] + rng.normal(size=100)
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    df = robust.cr2(y, X, np.empty((100, 0)), codes, np.empty(0), beta).df
    assert np.all(df > 0) and np.all(df <= 3.0 + 1e-9)


def test_chibar_mixture():
    stat = 3.0
    assert stats.chibar_p(stat, 1) == pytest.approx(0.5 * scistats.chi2.sf(stat, 1))
    assert stats.chibar_p(stat, 2) == pytest.approx(
        0.5 * scistats.chi2.sf(stat, 2) + 0.5 * scistats.chi2.sf(stat, 1)
    )


def test_akaike_weights_sum_to_one():
    w = stats.akaike_weights({"a": 100.0, "b": 102.0, "c": 110.0})
    assert sum(w.values()) == pytest.approx(1.0)
    assert w["a"] / w["b"] == pytest.approx(np.exp(1.0))


def test_design_effect():
    assert stats.design_effect(0.1, 21) == pytest.approx(3.0)


def test_qq_points_are_standardised():
    theoretical, sample = qq_points(np.arange(10.0))
    assert sample.mean() == pytest.approx(0.0) and sample.std(ddof=1) == pytest.approx(1.0)
    assert np.all(np.diff(theoretical) > 0)
