"""The data stage: read the file, check it against the spec, code and centre the design, describe
the sample. Its output (`Prepared`) feeds the model stage only."""

from .describe import describe
from .prepare import Prepared, check_full_rank
from .route import prepare

__all__ = ["Prepared", "check_full_rank", "describe", "prepare"]
