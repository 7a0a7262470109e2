"""The project's numba decorator: compiled once, cached on disk, numpy error semantics (no Python exception
checks on division in hot loops). All model kernels use :func:`kernel`."""

from numba import njit

kernel = njit(cache=True, error_model="numpy", nogil=True)
