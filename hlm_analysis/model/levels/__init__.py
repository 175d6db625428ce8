"""Linear mixed models with several random-effect levels (nested, or two crossed factors),
exact (lme4's profiled REML/ML criterion) from per-cell sums. See fit.fit_levels."""

from .fit import LevelsFit, fit_levels, fit_model
from .model import LevelsModel

__all__ = ["LevelsFit", "LevelsModel", "fit_levels", "fit_model"]
