"""The project's numba helpers.

* :func:`kernel`: the decorator of every compiled loop: compiled once, cached on disk, numpy error semantics (no
  Python exception checks on division in hot loops).
* Random streams handed to kernels cheaply. Passing a ``numpy.random.Generator`` into compiled code costs several
  microseconds per call (numba rebuilds the bit generator's ctypes function pointers every time), which adds up
  over the dozen kernel calls of a model step. :func:`stream_handle` reads those pointers once into a small
  ``uint64`` array; a kernel that takes either the Generator or its handle starts with
  ``rng = generator_of(rng)`` and then draws exactly as from the Generator itself: the same C bit generator
  state, advanced in place, so numpy draws and compiled draws interleave as before and results are identical.
  A handle is valid only while its Generator is alive; :class:`StreamHandles` ties the two together and is
  never copied (a deep copy or a pickle of it is empty, so a forked model builds handles for its own streams).
  Never keep a handle anywhere else (on a model, a policy, a result): a deep copy of it would still point into the
  original stream. Kernels elsewhere are cached on disk by their own files only, so after a change to the handle
  layout here clear numba's caches (``find src -name '*.nbi' -delete``).
"""

from __future__ import annotations

import ctypes

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

kernel = njit(cache=True, error_model="numpy", nogil=True)

_GENERATOR = types.NumPyRandomGeneratorType("generator")
_BIT_GENERATOR = types.NumPyRandomBitGeneratorType("bit_generator")
# handle layout (the fields numba's own unboxing of a Generator fills)
_FIELDS = ("state_address", "state", "fnptr_next_uint64", "fnptr_next_uint32", "fnptr_next_double",
           "bit_generator")


def stream_handle(generator: np.random.Generator) -> np.ndarray:
    """The bit generator's state and function pointers as ``uint64[6]`` (see the module docstring)."""
    c = generator.bit_generator.ctypes
    ptr = ctypes.c_void_p
    return np.array([c.state_address, c.state.value, ctypes.cast(c.next_uint64, ptr).value,
                     ctypes.cast(c.next_uint32, ptr).value, ctypes.cast(c.next_double, ptr).value,
                     c.bit_generator.value or 0], dtype=np.uint64)


class StreamHandles:
    """Handles of a model's random streams, built on first use and checked against the live Generator; copies
    and pickles are empty (a handle must never outlive or point past its own Generator)."""

    def __init__(self):
        self._by_name: dict[str, tuple[np.random.Generator, np.ndarray]] = {}

    def get(self, name: str, generator: np.random.Generator) -> np.ndarray:
        entry = self._by_name.get(name)
        if entry is None or entry[0] is not generator:
            entry = self._by_name[name] = (generator, stream_handle(generator))
        return entry[1]

    def __deepcopy__(self, memo):
        return StreamHandles()

    def __reduce__(self):
        return (StreamHandles, ())


@intrinsic
def _generator_from_handle(typingctx, handle):
    """A Generator value (no Python object behind it) over the bit generator a :func:`stream_handle` names."""
    if not (isinstance(handle, types.Array) and handle.dtype == types.uint64 and handle.ndim == 1):
        return None

    def codegen(context, builder, signature, args):
        arr = context.make_array(signature.args[0])(context, builder, args[0])
        bits = cgutils.create_struct_proxy(_BIT_GENERATOR)(context, builder)
        for k, name in enumerate(_FIELDS):
            ptr = builder.gep(arr.data, [ir.Constant(ir.IntType(64), k)])
            setattr(bits, name, builder.load(ptr))
        gen = cgutils.create_struct_proxy(_GENERATOR)(context, builder)
        gen.bit_generator = bits._getvalue()
        return gen._getvalue()  # parent object and meminfo stay null: nothing to reference-count

    return _GENERATOR(handle), codegen


def generator_of(rng):
    """``rng`` itself (a Generator) or the Generator a :func:`stream_handle` stands for (compiled code only)."""
    return rng


@overload(generator_of)
def _generator_of(rng):
    if isinstance(rng, types.NumPyRandomGeneratorType):
        return lambda rng: rng
    if isinstance(rng, types.Array) and rng.dtype == types.uint64 and rng.ndim == 1 and rng.layout == "C":
        def from_handle(rng):
            if rng.size != len(_FIELDS):
                raise ValueError("not a stream handle (s3sim.model._jit.stream_handle)")
            return _generator_from_handle(rng)

        return from_handle
    return None
