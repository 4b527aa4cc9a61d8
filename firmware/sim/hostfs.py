# What the virtual board keeps outside its programs' reach: the host's
# firmware/sim folder, and the heap its own stand-ins use.
#
# Modules of firmware/sim load after boot, when the board's flash has
# replaced the host's root: the host folder is mounted for the length of one
# import, and every module that import added is then taken out of
# sys.modules, so the board never sees the folder and a board file with the
# same name (a student's own mpu6050.py, say) still imports as usual.
#
# Heap: on a board, machine.I2C or an MPU6050 costs the program no heap. With
# JAZARI_HEAP, start.py holds back ("ballast") all heap beyond what the board
# would leave its programs, and everything done through off_heap() is paid for
# out of that ballast, so gc.mem_free() reads as on the board throughout.
import gc
import os
import sys
import vfs
from micropython import const
from uctypes import addressof as _addressof

_MOUNT = "/.jazari-sim"
_HOST = "/.jazari-host"
sim_dir = None  # set by start.py: the host path of firmware/sim
# The only host files a program may have opened for it: the scenario and the
# microphone's WAV file the supervisor named (anything else is not there).
_HOST_FILES = tuple(p for p in (os.getenv("JAZARI_SCENARIO"), os.getenv("JAZARI_MIC")) if p and p[:1] == "/")
_ENOENT = const(2)
# name: the Unix port's module, where programs get the board's; filled when
# start.py confines the board (confine.py), empty where the stand-ins run alone.
builtin_modules = {}
_ballast = []  # bytearrays, never read, below the program's heap
_holes = []  # what fills the holes the boot left (see _fill_holes)
_PIECE_MIN = 16
_BLOCK = 32 if sys.maxsize > 0x7FFFFFFF else 16  # bytes in a GC block: 4 machine words
_HOLE_PIECES = (4096, 512, 64, 1)  # bytearray sizes that fill holes, largest first
_MAX_TOP_UP = 4096  # dummy names at most
_NEW_BLOCK = 1024  # a rise in the heap this big after one name: the table grew


def _largest():
    # Bytes of the largest block the heap can give now (to within 16).
    lo, hi = 0, gc.mem_free()
    while hi - lo > 16:
        mid = (lo + hi) // 2
        try:
            bytearray(mid)
            lo = mid
        except MemoryError:
            hi = mid
    return lo


def _fill_holes():
    # Hold the holes below the heap's largest free run (what boot freed among
    # what it keeps), so that the free heap left is that one run, as on a
    # board after boot: a model's arena needs its bytes in one block, and
    # MicroPython allocates first fit from the bottom. The pieces are chained
    # in pairs, not listed: a growing list would itself need a run.
    chain = None
    cover = bytearray(_largest())  # out of reach while the holes fill
    for piece in _HOLE_PIECES:
        try:
            while True:
                chain = (chain, bytearray(piece))
        except MemoryError:
            pass
    cover = None
    gc.collect()
    return [chain]


def _top_up_names():
    # The stand-ins' names (qstrs) fill the interpreter's table of names,
    # whose next block is twice the last: a program's first new names would
    # pay for a block that only the stand-ins made necessary (a board's C
    # modules keep their names in ROM). So that block is taken here, before
    # the program's heap is counted: dummy names until the table grows.
    last = gc.mem_alloc()
    for i in range(_MAX_TOP_UP):
        getattr(None, "\x01%x" % i, None)  # an attribute name is interned
        now = gc.mem_alloc()
        if now - last > _NEW_BLOCK:
            return
        last = now


def reserve(free):
    """Hold heap so that gc.mem_free() reads `free` (when there is more), in
    one run at the heap's top."""
    global _ballast, _holes
    _ballast = _holes = []
    _top_up_names()
    gc.collect()
    _holes = _fill_holes()
    if gc.mem_free() < free:
        _holes = []  # the holes are needed to leave `free`: fewer than that then
        gc.collect()
    _ballast, tail = _hold(free)
    _holes.append(tail)


def off_heap(fn, *args):
    """fn(*args), with the heap it keeps taken from the ballast, not the program's."""
    global _ballast, _holes
    ceiling = _end(_ballast)  # the program's heap lies above
    if not ceiling:
        return fn(*args)
    # The program's heap, exactly: what lies above the ceiling once every
    # byte below it is held (the ballast's place, and what stand-ins let go
    # since they last loaded).
    gc.collect()
    below = _hold(0, ceiling)
    seen = gc.mem_free()
    below = None
    # Let the ballast go first: what is allocated from here on (the list of
    # holes kept, fn's objects) then lands in its place, not in the program's.
    _ballast = []
    gc.collect()
    # Holes filled among the program's objects stay filled; the others go.
    _holes = [_above(_holes, ceiling), None]
    gc.collect()
    try:
        return fn(*args)
    finally:
        # What fn keeps is paid out of the ballast: it took the ballast's
        # place (first fit), and what is left of that place is held again,
        # never a byte above it, so the program's heap stays as it was.
        gc.collect()
        _ballast, _holes[1] = _hold(seen, ceiling)


def _above(holes, ceiling):
    # The chain of the pieces in `holes` (chains of (previous, bytearray), or
    # of (previous, None) pairs that are themselves the piece) that lie above
    # `ceiling`.
    kept = None
    for chain in holes:
        while chain is not None:
            node = chain
            chain, piece = node
            if (id(node) if piece is None else _end((piece,))) > ceiling:
                kept = (kept, piece)
    return kept


def _end(blocks):
    # The address just past the highest of `blocks`' bytes (0 for none).
    return max((_addressof(b) + len(b) for b in blocks), default=0)


def _hold(free, ceiling=None):
    # Hold heap until gc.mem_free() reads `free`: one block if the heap has
    # it, else smaller pieces down to the smallest holes, all ending below
    # `ceiling` when one is given: (the bytearrays, a chain of pairs in
    # one-block holes). What each piece costs is read from the heap itself:
    # a bytearray's header and the list's growth count too.
    held, chunk = [], gc.mem_free() - free
    while chunk > _PIECE_MIN:
        size = gc.mem_free() - free - 2 * _BLOCK  # room for the header and the list
        if size <= _PIECE_MIN:
            break
        try:
            piece = bytearray(min(chunk, size))
        except MemoryError:
            chunk //= 2
            continue
        if ceiling and _end((piece,)) > ceiling:
            # It reaches into the program's heap: let go at once, so that a
            # smaller piece can take what is left below the ceiling.
            piece = None
            gc.collect()
            chunk //= 2
            continue
        held.append(piece)
    # Then the holes of one GC block (a bytearray needs two), with pairs.
    link = None
    while gc.mem_free() - free >= _BLOCK:
        try:
            pair = (link, None)
        except MemoryError:
            break
        if ceiling and id(pair) >= ceiling:
            break  # first fit: no hole is left below
        link = pair
    return held, link


def _import(name):
    if name == __name__:
        raise ImportError(name)  # this module stays out of programs' reach
    before = set(sys.modules)
    shadowed = sys.modules.pop(name, None)
    boards = {module: sys.modules.get(module) for module in builtin_modules}
    sys.modules.update(builtin_modules)
    # A module that imports hostfs (machine.py, loaded again) gets this one,
    # confined, never a fresh copy from the folder with no builtin_modules.
    sys.modules[__name__] = _this
    vfs.mount(vfs.VfsPosix(sim_dir), _MOUNT, readonly=True)
    sys.path.insert(0, _MOUNT)
    try:
        return __import__(name)
    finally:
        sys.path.remove(_MOUNT)
        vfs.umount(_MOUNT)
        for added in [m for m in sys.modules if m not in before]:
            del sys.modules[added]
        sys.modules.update(boards)
        if shadowed is not None:
            sys.modules[name] = shadowed


_this = sys.modules[__name__]


def load(name):
    """Import firmware/sim/<name>.py from the host, out of the board's sight and heap."""
    return off_heap(_import, name)


def with_host_path(fn, path):
    # Call fn(path) with an absolute host path reachable for the length of the
    # call: whatever fn opens stays open after the host root goes away again.
    if not path.startswith("/"):
        return fn(path)  # a name such as "walking", not a file
    if builtin_modules and path not in _HOST_FILES:
        raise OSError(_ENOENT)  # a confined board's program asked (tests of the stand-ins may)
    vfs.mount(vfs.VfsPosix("/"), _HOST, readonly=True)
    try:
        return fn(_HOST + path)
    finally:
        vfs.umount(_HOST)
