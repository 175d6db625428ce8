"""hlm-report: multilevel models from a config, reported."""

import os

# The model stage works on thousands of tiny matrices (one 2 x 2 per group) and matrix-vector
# products over them: BLAS threads add only their synchronisation, which costs more than the
# work (at 20,000 groups the ladder's fits take 1.8 s on one thread and 2.5 s on two, 15 s when
# the cores are busy). Set before numpy loads OpenBLAS; a value set by the user wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# Memory limits on address space (ulimit -v, prlimit --as, many batch schedulers) count what
# allocators reserve, not what they use: Arrow's jemalloc/mimalloc pools and glibc's arena per
# thread reserved about 2.7 GB of address space for a 50-million-row fit that uses 0.45 GB, so
# such a limit of 2.5 GB failed it. With Arrow on the system allocator and glibc capped at two
# arenas the same fit reserves 1.2 GB and runs as fast. Arrow reads this when it loads; a value
# set by the user wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


def _cap_malloc_arenas() -> None:
    """glibc's M_ARENA_MAX (its environment variable MALLOC_ARENA_MAX is read only at process
    start, so it is set here through mallopt); nothing on other C libraries."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # -8 is M_ARENA_MAX in glibc's malloc.h
    except (OSError, AttributeError):
        pass


_cap_malloc_arenas()
