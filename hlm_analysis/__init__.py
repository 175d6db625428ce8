"""hlm-report: multilevel models from a config, reported."""

import os

# The model stage works on thousands of tiny matrices (one 2 x 2 per group) and matrix-vector
# products over them: BLAS threads add only their synchronisation, which costs more than the
# work (at 20,000 groups the ladder's fits take 1.8 s on one thread and 2.5 s on two, 15 s when
# the cores are busy). Set before numpy loads OpenBLAS; a value set by the user wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
