# Import a module of firmware/sim/ from the host after the board's own flash
# has replaced the host's root filesystem. The host folder is mounted only for
# the length of one import, and every module that import added is then taken
# out of sys.modules: the board never sees the folder, and a board file with
# the same name (a student's own mpu6050.py, say) still imports as usual.
import sys
import vfs

_MOUNT = "/.jazari-sim"
sim_dir = None  # set by start.py: the host path of firmware/sim


def load(name):
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


_HOST = "/.jazari-host"


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
