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
import sys
import vfs

_MOUNT = "/.jazari-sim"
_HOST = "/.jazari-host"
sim_dir = None  # set by start.py: the host path of firmware/sim
_ballast = []  # bytearrays, never read
_CHUNK_MIN = 256


def _hold(size):
    # One block if the heap has it, else smaller pieces: the count is what matters.
    held, chunk = [], size
    while size > _CHUNK_MIN and chunk > _CHUNK_MIN:
        try:
            held.append(bytearray(min(chunk, size)))
            size -= min(chunk, size)
        except MemoryError:
            chunk //= 2
    return held


def _held():
    return sum(len(b) for b in _ballast)


def reserve(free):
    """Hold heap so that gc.mem_free() reads `free` (when there is more)."""
    global _ballast
    gc.collect()
    _ballast = _hold(gc.mem_free() - free)


def off_heap(fn, *args):
    """fn(*args), with the heap it keeps taken from the ballast, not the program's."""
    global _ballast
    held = _held()
    _ballast = []
    gc.collect()
    before = gc.mem_free()
    try:
        return fn(*args)
    finally:
        gc.collect()
        if held:
            _ballast = _hold(held - (before - gc.mem_free()))


def _import(name):
    before = set(sys.modules)
    shadowed = sys.modules.pop(name, None)
    vfs.mount(vfs.VfsPosix(sim_dir), _MOUNT, readonly=True)
    sys.path.insert(0, _MOUNT)
    try:
        return __import__(name)
    finally:
        sys.path.remove(_MOUNT)
        vfs.umount(_MOUNT)
        for added in [m for m in sys.modules if m not in before]:
            del sys.modules[added]
        if shadowed is not None:
            sys.modules[name] = shadowed


def load(name):
    """Import firmware/sim/<name>.py from the host, out of the board's sight and heap."""
    return off_heap(_import, name)


def with_host_path(fn, path):
    # Call fn(path) with an absolute host path reachable for the length of the
    # call: whatever fn opens stays open after the host root goes away again.
    if not path.startswith("/"):
        return fn(path)  # a name such as "walking", not a file
    vfs.mount(vfs.VfsPosix("/"), _HOST, readonly=True)
    try:
        return fn(_HOST + path)
    finally:
        vfs.umount(_HOST)
