"""The project's numba helpers.

* :func:`kernel`: the decorator of every compiled loop: compiled once, cached on disk, numpy error semantics (no
  Python exception checks on division in hot loops).
* :func:`step_kernel`: the decorator of a small kernel that other kernels call in their loops (a kene lookup, a
  tie scan, one learning step). It is a kernel too, callable from Python, but inlined into its callers in
  numba's IR: a call between compiled functions passes every array as a struct and adjusts its reference
  count, which cost about a tenth of the knowledge exchange's time. Inlining changes no arithmetic: the same
  operations run in the same order, so results are identical.
* :func:`live_rows`: the alive rows of the actor table, for the row loops of the step's kernels. About half the
  rows belong to actors that exited, in no pattern, so a loop that tests ``alive[i]`` row by row mispredicts
  that branch about every other row; the list is built without a branch and visited in the same (ascending)
  order, so results are identical.
* :func:`uniform`: one uniform draw in [0, 1) from a Generator or a stream handle, exactly ``rng.random()``.
  For numpy's PCG64 (every model stream) a handle also carries the address of the generator's 128-bit state
  and increment, and the draw is made inline: the same PCG64 step (state = state x multiplier + increment,
  modulo 2^128), the same XSL-RR output and the same 53-bit conversion as numpy's ``random()``, written to the
  same state, so numpy's draws, numba's and these interleave exactly. An inline draw costs about a third of
  a call through the bit generator's function pointer (about 2 ns against 6 on the development machine), and
  the model makes about ten uniform draws per actor and quarter. The address is used only after the state
  read through it has been checked against ``bit_generator.state`` (any other bit generator, or another
  memory layout, takes the function-pointer path).
* Random streams handed to kernels cheaply. Passing a ``numpy.random.Generator`` into compiled code costs several
  microseconds per call (numba rebuilds the bit generator's ctypes function pointers every time), which adds up
  over the dozen kernel calls of a model step. :func:`stream_handle` reads those pointers once into a small
  ``uint64`` array; a kernel that takes either the Generator or its handle starts with
  ``rng = generator_of(rng)`` and then draws exactly as from the Generator itself: the same C bit generator
  state, advanced in place, so numpy draws and compiled draws interleave as before and results are identical.
  A handle's memory holds a reference to its Generator, which so lives as long as the handle (a copy of the array
  does not); :class:`StreamHandles` keeps a model's handles and is never copied (a deep copy or a pickle of it is
  empty, so a forked model builds handles for its own streams).
  Never keep a handle anywhere else (on a model, a policy, a result): a deep copy of it would still point into the
  original stream. Kernels elsewhere are cached on disk by their own files only, so after a change to the handle
  layout here clear numba's caches (``find src -name '*.nbi' -delete``).
"""

from __future__ import annotations

import ctypes
import sys

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload, register_jitable

kernel = njit(cache=True, error_model="numpy", nogil=True)
step_kernel = njit(cache=True, error_model="numpy", nogil=True, inline="always")

_GENERATOR = types.NumPyRandomGeneratorType("generator")
_BIT_GENERATOR = types.NumPyRandomBitGeneratorType("bit_generator")
# handle layout: the fields numba's own unboxing of a Generator fills, then the address of a PCG64's 128-bit
# state and increment (0: draw through the function pointers)
_FIELDS = ("state_address", "state", "fnptr_next_uint64", "fnptr_next_uint32", "fnptr_next_double",
           "bit_generator")
_PCG64_FIELD = len(_FIELDS)
_HANDLE_SIZE = len(_FIELDS) + 1
_PCG64_MULTIPLIER = (2549297995355413924 << 64) | 4865540595714422341  # numpy's PCG_DEFAULT_MULTIPLIER_128


def stream_handle(generator: np.random.Generator) -> np.ndarray:
    """The bit generator's state and function pointers, and the address for inline PCG64 draws (0 when not
    usable), as ``uint64[7]`` (see the module docstring). The array's memory holds a reference to ``generator``,
    so the Generator lives as long as the handle (a copy of the array does not: never copy a handle)."""
    bits = generator.bit_generator
    c = bits.ctypes
    ptr = ctypes.c_void_p
    holder = (ctypes.c_uint64 * _HANDLE_SIZE)(
        c.state_address, c.state.value, ctypes.cast(c.next_uint64, ptr).value, ctypes.cast(c.next_uint32, ptr).value,
        ctypes.cast(c.next_double, ptr).value, c.bit_generator.value or 0, _pcg64_address(bits))
    holder.generator = generator  # kept alive by the array below, whose buffer this is
    return np.ctypeslib.as_array(holder)


def _pcg64_address(bits) -> int:
    """Address of a PCG64's ``pcg64_random_t`` (state then increment, each a native little-endian 128-bit
    integer), or 0 unless what is read there equals the generator's own state."""
    if type(bits) is not np.random.PCG64 or ctypes.sizeof(ctypes.c_void_p) != 8 or sys.byteorder != "little":
        return 0  # the layout read below: a 64-bit pointer first in pcg64_state, little-endian 128-bit words
    address = ctypes.c_uint64.from_address(bits.ctypes.state_address).value  # pcg64_state.pcg_state
    if not address:
        return 0
    words = (ctypes.c_uint64 * 4).from_address(address)
    state = bits.state["state"]
    if (words[0] | words[1] << 64) != state["state"] or (words[2] | words[3] << 64) != state["inc"]:
        return 0
    return address


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


@intrinsic
def _pcg64_next64(typingctx, address):
    """numpy's ``pcg64_next64`` on the ``pcg64_random_t`` at ``address``: advance the 128-bit LCG, return its
    XSL-RR output."""
    if address != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        i64, i128 = ir.IntType(64), ir.IntType(128)
        state_ptr = builder.inttoptr(args[0], ir.PointerType(i128))
        inc_ptr = builder.gep(state_ptr, [ir.Constant(i64, 1)])
        state = builder.load(state_ptr, align=8)
        state = builder.add(builder.mul(state, ir.Constant(i128, _PCG64_MULTIPLIER)), builder.load(inc_ptr, align=8))
        builder.store(state, state_ptr, align=8)
        lo = builder.trunc(state, i64)
        hi = builder.trunc(builder.lshr(state, ir.Constant(i128, 64)), i64)
        x = builder.xor(hi, lo)
        rot = builder.lshr(hi, ir.Constant(i64, 58))
        left = builder.and_(builder.sub(ir.Constant(i64, 64), rot), ir.Constant(i64, 63))
        return builder.or_(builder.lshr(x, rot), builder.shl(x, left))  # rotate right by rot

    return types.uint64(types.uint64), codegen


@step_kernel
def live_rows(alive, n):
    """The rows ``i < n`` with ``alive[i]``, ascending (compiled code; see the module docstring)."""
    rows = np.empty(n, dtype=np.int64)
    m = 0
    for i in range(n):
        rows[m] = i
        m += 1 if alive[i] else 0
    return rows[:m]


def _is_handle(rng) -> bool:
    """Whether a numba type is that of a stream handle (a C-contiguous ``uint64`` vector)."""
    return isinstance(rng, types.Array) and rng.dtype == types.uint64 and rng.ndim == 1 and rng.layout == "C"


def _stream_overload(on_generator, on_handle):
    """An overload body: ``on_generator`` for a Generator, ``on_handle`` (after the handle's size is checked) for
    a stream handle; anything else does not type."""

    def typer(rng):
        if isinstance(rng, types.NumPyRandomGeneratorType):
            return on_generator
        if _is_handle(rng):
            def checked(rng):
                if rng.size != _HANDLE_SIZE:
                    raise ValueError("not a stream handle (s3sim.model._jit.stream_handle)")
                return on_handle(rng)

            return checked
        return None

    return typer


def check_stream(rng):
    """Refuse anything but a Generator or a stream handle (compiled code only): a kernel's first statement."""


def uniform(rng):
    """One uniform draw in [0, 1) from ``rng`` (a Generator or a stream handle): ``rng.random()`` to the last bit
    (compiled code only; see the module docstring)."""
    return rng.random()


def generator_of(rng):
    """``rng`` itself (a Generator) or the Generator a :func:`stream_handle` stands for (compiled code only)."""
    return rng


@register_jitable
def _uniform_from_handle(rng):
    address = rng[_PCG64_FIELD]
    if address != 0:
        return np.float64(_pcg64_next64(address) >> np.uint64(11)) * (1.0 / 9007199254740992.0)
    return _generator_from_handle(rng).random()


overload(check_stream)(_stream_overload(register_jitable(lambda rng: None), register_jitable(lambda rng: None)))
overload(uniform)(_stream_overload(register_jitable(lambda rng: rng.random()), _uniform_from_handle))
overload(generator_of)(_stream_overload(register_jitable(lambda rng: rng), _generator_from_handle))
