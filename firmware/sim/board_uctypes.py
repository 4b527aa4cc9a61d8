# uctypes as a program on the virtual board sees it: it reaches the memory of
# the board's own objects (an address from addressof()) and the memory-mapped
# ROMFS, not the rest of the computer's process (the Unix port's MicroPython
# runs inside the kit's Python, whose memory holds what a board must not
# touch). An out-of-bounds address raises ValueError, where a board would
# raise LoadProhibited. start.py puts it in sys.modules under uctypes.
from micropython import const
from uctypes import *  # noqa: F401,F403  (the type constants)
from uctypes import addressof as _addressof, bytearray_at as _bytearray_at, bytes_at as _bytes_at
from uctypes import sizeof, struct as _struct, NATIVE

_KEPT = const(8)  # the last objects handed out by addressof() stay reachable
_rom = None  # (start, end) of the ROMFS image
_recent = []


def allow_rom(start, size):
    global _rom
    _rom = (start, start + size)


def addressof(obj):
    start = _addressof(obj)
    view = memoryview(obj)
    end = start + len(view) * getattr(view, "itemsize", 1)
    if len(_recent) >= _KEPT:
        _recent.pop(0)
    _recent.append((start, end))
    return start


def _check(addr, size):
    end = addr + size
    for start, stop in ([_rom] if _rom else []) + _recent:
        if start <= addr and end <= stop:
            return
    raise ValueError("address outside the board's memory")


def bytearray_at(addr, size):
    _check(addr, size)
    return _bytearray_at(addr, size)


def bytes_at(addr, size):
    _check(addr, size)
    return _bytes_at(addr, size)


def struct(addr, descriptor, layout_type=NATIVE):
    _check(addr, sizeof(descriptor, layout_type))
    return _struct(addr, descriptor, layout_type)
