"""The virtual board's MicroPython process (run by the supervisor).

Started with the inner pseudo-terminal as stdin/stdout/stderr, in a new
session: it makes that terminal its controlling one, so Ctrl-C typed by a
tool becomes SIGINT here and KeyboardInterrupt in MicroPython. Then it runs
the real Unix port in this same process (`micropython_run.run_main`, what
the `micropython` command does), which is what lets it hand MicroPython a
read-only view of the ROMFS partition of the flash file: the file is
mapped here, and its address is passed in JAZARI_ROM_ADDR/JAZARI_ROM_SIZE
for `uctypes.bytearray_at`, memory-mapped flash that costs no heap.

    python -m jazari.sim.launcher HEAPSIZE START_SCRIPT

The other JAZARI_* variables come from the supervisor unchanged. The exit
code is MicroPython's: see docs/virtual-board.md for what each one means.

Before MicroPython runs, the process gets limits (memory, open files, file
size: see `limit`), a seccomp filter on Linux x86-64 (seccomp.py: no exec,
no new process, no sockets, no ptrace or mounts), and a forked helper, under
the same limits and filter, that ends it with SIGTERM when
firmware/sim/machine.py writes a byte to JAZARI_KILL_FD (a reset from an
interrupt handler; a board has no `kill` to run, and nor has the sandbox),
and with SIGKILL when its terminal hangs up.
"""

import ctypes
import fcntl
import mmap
import os
import resource
import select
import signal
import sys
import termios

from jazari.sim import sandbox, seccomp


def romfs_partition(flash_path):
    """(offset, size) of the ROMFS partition in the flash file, or None."""
    from jazari.flash import layout
    from jazari.sim.flash_file import read_partitions

    # A damaged table: the board boots without ROMFS, as the port would.
    part = layout.romfs_partition(read_partitions(flash_path))
    return (part.offset, part.size) if part is not None else None


def map_romfs(flash_path):
    """Map the ROMFS partition; return (address, size), or None if there is none.

    A private writable mapping, because ctypes can only take the address of a
    writable buffer; a stray write changes this process's copy, never the file.
    """
    region = romfs_partition(flash_path)
    if region is None:
        return None
    offset, size = region
    with open(flash_path, "rb") as flash:
        view = mmap.mmap(
            flash.fileno(), size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE, offset=offset
        )
    # Kept alive for the life of the process: MicroPython holds the raw address.
    map_romfs.keep = view
    return ctypes.addressof((ctypes.c_char * size).from_buffer(view)), size


MEMORY_MARGIN = 512 * 1024 * 1024  # address space for Python, its libraries and the mapped flash
OPEN_FILES = 64  # a board's program opens a few files at a time
FILE_SIZE = 64 * 1024 * 1024  # no file grows past this where there is no flash file to size it
# Threads and processes of the sandbox: bwrap's init, this process, the kill
# helper and MicroPython's threads (the Timer's one). Counted per user, so set
# only in a user namespace of the board's own, where the user's other
# processes do not count (root is not limited by it at all).
PROCESSES = 64


def limit(heapsize, flash_size=None):
    """Bound what MicroPython can take from the computer (soft and hard limits:
    the program cannot raise them again). No file may grow past the flash
    file's own size, so the flash never grows (the event log shares the
    limit: events.py stops logging there); SIGXFSZ is ignored, so such a write
    fails with EFBIG instead of killing the board."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limits = [
        (resource.RLIMIT_AS, heapsize + MEMORY_MARGIN),
        (resource.RLIMIT_NOFILE, OPEN_FILES),
        (resource.RLIMIT_FSIZE, flash_size or FILE_SIZE),
        (resource.RLIMIT_CORE, 0),
    ]
    if os.environ.pop(sandbox.OWN_USER_NAMESPACE, None):
        limits.append((resource.RLIMIT_NPROC, PROCESSES))
    for which, value in limits:
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))


def start_kill_helper():
    """Fork the helper that ends this process; return the fd that asks it.

    It sends SIGTERM when asked (a byte on the fd), and SIGKILL when the
    board's terminal hangs up (its supervisor gone, or it killed bwrap alone):
    MicroPython would otherwise read EIO from it for ever, spinning, with
    nobody left to reach it. That does not rest on SIGHUP, which a board
    started under nohup inherits ignored, nor on which process leads the
    terminal's session inside bwrap."""
    reader, writer = os.pipe()
    terminal = os.dup(0)
    board = os.getpid()
    if os.fork() == 0:
        try:
            seccomp.install()  # what the board's process gets: this one needs poll, read and kill only
            os.close(writer)
            for fd in (0, 1, 2):
                os.close(fd)
            _serve_kills(reader, terminal, board)
        finally:
            os._exit(0)
    os.close(reader)
    os.close(terminal)
    return writer


def _serve_kills(reader, terminal, board):
    watch = select.poll()
    watch.register(reader, select.POLLIN)
    watch.register(terminal, 0)  # POLLHUP and POLLERR are always reported
    while True:
        for fd, events in watch.poll():
            if fd == reader:
                if os.read(reader, 1):
                    _kill(board, signal.SIGTERM)
                return  # asked, or b"": the process ended without asking
            if events & select.POLLNVAL:  # a terminal this poll() cannot watch (older macOS): the pipe alone
                watch.unregister(terminal)
            elif events & (select.POLLHUP | select.POLLERR):
                _kill(board, signal.SIGKILL)
                return


def _kill(board, signum):
    """Signal the board's process, if this helper is still its child: once it
    has ended, its pid could be another process's."""
    if os.getppid() == board:
        os.kill(board, signum)


def take_terminal():
    """Become the controlling process of stdin's terminal (we lead a new session)."""
    request = getattr(termios, "TIOCSCTTY", None)
    if request is not None:
        try:
            fcntl.ioctl(0, request, 0)
        except OSError:
            pass


def main(argv):
    heapsize, start_script = argv[1], argv[2]
    # Until MicroPython installs its own handler, Ctrl-C must not stop CPython.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A board ends when its terminal hangs up, even where the tools were
    # started with SIGHUP ignored (nohup, some CI runners).
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    take_terminal()
    flash = os.environ.get("JAZARI_FLASH")
    flash = flash if flash and os.path.isfile(flash) else None
    rom = map_romfs(flash) if flash else None
    if rom:
        os.environ["JAZARI_ROM_ADDR"], os.environ["JAZARI_ROM_SIZE"] = str(rom[0]), str(rom[1])
    # Limits and filter before the helper is forked, so that it never runs
    # without them: board code could otherwise write into its memory through
    # /proc/PID/mem and run there free. The first filter still allows the
    # fork; the second, in each process after it, refuses new processes.
    limit(int(heapsize), os.path.getsize(flash) if flash else None)
    seccomp.install(new_processes=True)
    os.environ["JAZARI_KILL_FD"] = str(start_kill_helper())
    seccomp.install()
    import micropython_run

    # start.py sets MICROPYINSPECT (the REPL after the script, as `-i` would)
    # once the board's flash is mounted, and clears it for machine.reset().
    return micropython_run.run_main(["micropython", "-X", f"heapsize={heapsize}", start_script])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
