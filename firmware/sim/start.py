"""Boot script of the virtual board: turns the MicroPython Unix port into an ESP32.

Contract with the supervisor (host/jazari/sim, which launches this file):

Command: `micropython -X heapsize=N <firmware>/sim/start.py`, WITHOUT `-i`.
  This script sets MICROPYINSPECT=1 so the Unix port enters its REPL once the
  script ends, and clears it just before a reset so the process really exits:
  with `-i` a reset requested by main.py would fall into the REPL instead.

Environment:
  JAZARI_FLASH        path of the flash file (4 MB, ESP32 layout), required
  JAZARI_EVENTS       event log to append to (format in events.py), optional
  JAZARI_SCENARIO     IMU scenario: an absolute CSV path, or still|walking|shaking
  JAZARI_PROFILE      esp32 | esp32s3 | esp32s3-psram (pins, heap info, temperature)
  JAZARI_UID          the board's MAC as 12 hex digits (machine.unique_id, WLAN mac)
  JAZARI_RESET_CAUSE  what machine.reset_cause() answers: 1 at power-on (the default)
  JAZARI_ROM_ADDR, JAZARI_ROM_SIZE  optional memory-mapped ROMFS image (address and
                      size, decimal or 0x hex) mounted read-in-place at /rom
  JAZARI_FIRMWARE     the host's firmware/ folder (sim/ is found there)
  JAZARI_REPL         "raw" after a soft reset in the raw REPL: main.py is not run
  JAZARI_SAFE_BOOT    set (non-empty) for a boot as with BOOT held: neither boot.py
                      nor main.py runs (the kit's boot.py does that on a board);
                      the event log gets "safe boot <t_us>"
  JAZARI_HEAP         optional: the bytes gc.mem_free() reports at a real board's REPL
                      after boot. Give -X heapsize generously (this + 64 KB): the
                      stand-ins' own heap, even what loads later (I2C, the MPU6050
                      simulator), is then held outside what programs see.

Exit codes (the next boot's JAZARI_RESET_CAUSE in brackets):
  0  soft reboot: Ctrl-D at the REPL, sys.exit(), machine.soft_reset()  [5 SOFT_RESET]
  2  machine.reset()                                                    [2 HARD_RESET]
  3  watchdog: see below                                               [3 WDT_RESET]
  4  wake from machine.deepsleep(ms); the process slept already         [4 DEEPSLEEP_RESET]
  6  the flash cannot boot (no vfs partition, or it could not be mounted)
  7  machine.bootloader(): restart in download mode
  other: the interpreter failed (treat it as a crash, then power on again [1])
From a Timer or Pin callback (a WDT expiring, machine.reset() in an IRQ) the
scheduler would swallow SystemExit, so the process kills itself with SIGTERM
after logging "reset <wdt|hard|...>": read the event log's last reset line.

What the board sees: its own flash, through a board's modules. The host's
root is unmounted and the LittleFS `vfs` partition is mounted at `/`
(formatted at first boot if blank or damaged), sys.path is the ESP32 port's,
programs import the board's os, vfs, socket and uctypes (confine.py; the
built-in ones stay reachable to a determined program, which is why the host
also confines the process: docs/security.md), then /boot.py and /main.py run
as on a board: an exception is printed and the board stays up; main.py is
skipped if boot.py failed or JAZARI_REPL is "raw"; Ctrl-C in main.py drops to
the REPL.
"""

import micropython

# Ctrl-C waits in the line while the kit itself starts, as on a board, whose
# UART takes it only once the firmware is up: interrupted here, the board would
# exit half set up. Taken again just before boot.py (_boot).
micropython.kbd_intr(-1)

import os  # noqa: E402
import sys  # noqa: E402
import vfs  # noqa: E402
from micropython import const  # noqa: E402

_EXIT_BAD_FLASH = const(6)

_FIRST_BOOT_PY = """\
# This file is executed on every boot (including wake-boot from deepsleep)
#import esp
#esp.osdebug(None)
#import webrepl
#webrepl.start()
"""


def _mount_flash(bdev):
    # ports/esp32/modules/_boot.py and inisetup.py, except that a damaged
    # filesystem is formatted too: a virtual board is cheap to refill.
    try:
        vfs.mount(bdev, "/")
        return
    except OSError:
        pass
    first = bytearray(bdev.ioctl(5, 0))
    bdev.readblocks(0, first)
    if first != b"\xff" * len(first):
        print("The filesystem appears to be corrupted: formatting it.")
    print("Performing initial setup")
    vfs.VfsLfs2.mkfs(bdev)
    vfs.mount(vfs.VfsLfs2(bdev), "/")
    with open("/boot.py", "w") as f:
        f.write(_FIRST_BOOT_PY)


def _mount_rom():
    addr = os.getenv("JAZARI_ROM_ADDR")
    if not addr:
        return None
    import uctypes

    image = uctypes.bytearray_at(int(addr, 0), int(os.getenv("JAZARI_ROM_SIZE"), 0))
    try:
        vfs.mount(vfs.VfsRom(image), "/rom")
    except OSError:
        return None  # as the port does with a blank romfs partition
    return int(addr, 0), len(image)


def _refuse(why):
    # Exit code 6 (see the list above): this flash cannot boot.
    print("virtual board: " + why)
    raise SystemExit(_EXIT_BAD_FLASH)


def _run(name, namespace, os=os, sys=sys):
    # pyexec_file_if_exists(): True when the file is absent or ran to the end.
    # Runs after the globals are cleared, so its modules are bound at
    # definition: the built-in os, where programs import the board's.
    try:
        f = open(name)
    except OSError:
        return True
    with f:
        source = f.read()
    try:
        code = compile(source, name, "exec")
        del source
        exec(code, namespace)
    except SystemExit:
        os.unsetenv("MICROPYINSPECT")
        raise
    except BaseException as e:  # KeyboardInterrupt too: back to the REPL
        sys.print_exception(e)
        return False
    return True


def _start():
    firmware = os.getenv("JAZARI_FIRMWARE")
    sim = firmware + "/sim" if firmware else sys.path[0]
    sys.path[0] = sim
    flash = os.getenv("JAZARI_FLASH")
    if not flash:
        _refuse("JAZARI_FLASH is not set")
    # MICROPYINSPECT (the REPL after this script) is set only once the board's
    # flash is mounted: whatever fails before ends the process, rather than
    # leaving a REPL on the host's root.
    os.unsetenv("MICROPYINSPECT")

    # Everything needed from the host is imported or opened before its root goes.
    import time
    import flashdev
    import events
    import hostfs
    import confine

    hostfs.sim_dir = sim
    flashdev.open_flash(flash)
    if os.getenv("JAZARI_EVENTS"):
        events.open_log(os.getenv("JAZARI_EVENTS"))
    import machine
    import esp32
    import network  # noqa: F401
    import esp  # noqa: F401

    profile = os.getenv("JAZARI_PROFILE") or "esp32"
    events.emit("boot", "%d %s %d" % (machine.reset_cause(), profile, time.time_ns() // 1000))
    found = esp32.Partition.find(esp32.Partition.TYPE_DATA, label="vfs")
    if not found:
        _refuse("the flash holds no vfs partition")

    vfs.umount("/")
    _mount_flash(found[0])
    rom = _mount_rom()
    os.chdir("/")
    sys.path[:] = ["", ".frozen"] + (["/rom", "/rom/lib"] if rom else []) + ["/lib"]
    sys.argv[:] = []
    confine.confine(rom)
    os.putenv("MICROPYINSPECT", "1")


def _sweep():
    # Leave the REPL's namespace (this script's globals) as a board's. Also
    # run at exit: a board's soft reset sweeps the heap, which closes (so
    # flushes) every file left open, where the Unix port would just exit.
    import gc

    namespace = globals()
    for name in list(namespace):
        if name != "__name__":
            del namespace[name]
    gc.collect()
    return namespace


def _boot():
    import os
    import sys

    run = _run
    sweep = _sweep
    sys.atexit(sweep)
    _start()
    namespace = sweep()  # boot.py, main.py and the REPL share it, as on a board
    if os.getenv("JAZARI_HEAP"):
        from machine import _hostfs

        _hostfs.reserve(int(os.getenv("JAZARI_HEAP")))
    import micropython

    micropython.kbd_intr(3)  # the kit is up: Ctrl-C stops boot.py and main.py
    # ports/esp32/main.c runs main.py only from the friendly REPL: a soft
    # reset in the raw REPL (mpremote's) runs boot.py alone.
    if os.getenv("JAZARI_SAFE_BOOT"):
        import events

        events.emit("safe", "boot")
        print("Safe boot: boot.py and main.py were not run.")
    elif run("boot.py", namespace) and os.getenv("JAZARI_REPL") != "raw":
        run("main.py", namespace)
    os.putenv("MICROPYINSPECT", "1")  # even if main.py swallowed a reset's SystemExit


_boot()
