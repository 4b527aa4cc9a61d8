"""Every board recoverable (docs/recovery.md): each state that used to need an
unplug is brought back by one documented command, or by none, and then both
`jazari info` and mpremote answer. Real tools on virtual boards throughout."""

import os
import signal
import threading
import time

import pytest
import serial
from record_helpers import run_jazari, start_jazari, wait_for_rows
from test_sim_mpremote import mpremote

import jazari
from jazari.errors import JazariError
from jazari.link.frames import WIRE
from jazari.link.recover import ASIDE, recover
from jazari.link.session import LinkSession
from jazari.paths import firmware_dir

BAD_MAINS = {
    "boot loop": "import machine\nmachine.reset()\n",
    "MemoryError at boot": "hog = []\nwhile True:\n    hog.append(bytearray(1024))\n",
    "Ctrl-C disabled": "import micropython\nmicropython.kbd_intr(-1)\nwhile True:\n    pass\n",
    # More that needed an unplug: download mode at every boot, a timer that
    # resets the board faster than a tool can talk to it; boot.py's own (below);
    # a board left in download mode (the test after).
    "bootloader at boot": "import machine\nmachine.bootloader()\n",
    "timer that resets": "from machine import Timer, reset\nTimer(0).init(period=50, mode=Timer.PERIODIC, callback=lambda t: reset())\n",
}
BAD_BOOTS = {
    "Ctrl-C disabled in boot.py": BAD_MAINS["Ctrl-C disabled"],
    "MemoryError in boot.py": BAD_MAINS["MemoryError at boot"],
}


def assert_answers(port):
    """`jazari info` and `mpremote exec` both reach the board."""
    info = run_jazari("info", port)
    assert info.returncode == 0, info.stderr
    assert "chip: ESP32" in info.stdout
    assert mpremote(port, "exec", "print(6 * 7)").stdout.decode().strip() == "42"


def put_and_restart(board, files):
    with jazari.connect(board.port) as device:
        for path, text in files.items():
            device.put(text.encode(), path)
    board.reset()  # EN: from now on every boot runs what was put


# The three states run in CI; the others that once needed an unplug run with --runslow.
_REQUIRED = ("boot loop", "MemoryError at boot", "Ctrl-C disabled")


def _state(path, name, code):
    marks = () if name in _REQUIRED else (pytest.mark.slow,)
    return pytest.param(path, name, code, id=name, marks=marks)


STATES = [_state("/main.py", name, code) for name, code in sorted(BAD_MAINS.items())]
STATES += [_state("/boot.py", name, code) for name, code in sorted(BAD_BOOTS.items())]


@pytest.mark.parametrize("path, state, code", STATES)
def test_a_program_that_stops_the_board_at_boot_is_set_aside_by_recover(virtual_board, path, state, code):
    put_and_restart(virtual_board, {path: code})
    if state != "timer that resets":  # that one answers now and then, by luck
        with pytest.raises(JazariError):
            with jazari.connect(virtual_board.port, timeout=2) as device:
                device.info()  # the state is real: the board does not answer as it should
    done = run_jazari("recover", virtual_board.port)
    assert done.returncode == 0, done.stderr
    assert f"{path} set aside as {path}{ASIDE}" in done.stdout
    assert "button" not in done.stdout + done.stderr
    assert_answers(virtual_board.port)
    with jazari.connect(virtual_board.port) as device:
        assert device.get(f"{path}{ASIDE}").decode() == code  # kept, not deleted
        assert path[1:] not in device.eval("__import__('os').listdir('/')")


@pytest.mark.slow
def test_a_board_left_in_download_mode_is_brought_back(virtual_boards):
    # As a `jazari flash` or esptool killed mid-flash leaves it: the ROM bootloader waits.
    (board,) = virtual_boards(1, download_mode=True)
    assert run_jazari("info", board.port).returncode == 1
    done = run_jazari("recover", board.port)
    assert done.returncode == 0, done.stderr
    assert_answers(board.port)


def test_the_kits_own_files_stay_and_its_program_is_set_aside(virtual_board):
    # The kit's main.py runs student.py: that is what stops the board. A boot.py
    # of the student's own goes too; a second recovery never overwrites the first.
    put_and_restart(virtual_board, {"/student.py": BAD_MAINS["boot loop"], "/boot.py": "x = 1\n", "/boot.py" + ASIDE: "old\n"})
    moved, info = recover(virtual_board.port)
    assert moved == [("/boot.py", f"/boot.py{ASIDE}-2"), ("/student.py", f"/student.py{ASIDE}")]
    assert info["chip"] == "ESP32"
    with jazari.connect(virtual_board.port) as device:
        assert device.get("/main.py") == (firmware_dir() / "main.py").read_bytes()
        assert device.get(f"/boot.py{ASIDE}") == b"old\n"


def test_recover_of_a_healthy_board_renames_nothing(virtual_board):
    # Before: the program the kit's main.py starts was set aside and blamed, the next one at each run.
    put_and_restart(virtual_board, {"/student.py": 'print("my project")\n', "/lesson.py": 'print("lesson")\n'})
    for _run in range(2):
        done = run_jazari("recover", virtual_board.port)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"The board on {virtual_board.port} answers; nothing to recover."
    with jazari.connect(virtual_board.port) as device:
        names = device.eval("__import__('os').listdir('/')")
        assert device.get("/student.py") == b'print("my project")\n'
    assert "student.py" in names and "lesson.py" in names and not any(ASIDE in name for name in names)


def test_a_board_that_answers_until_its_next_reset_gets_its_program_set_aside(virtual_board):
    # main.py put but the board not reset yet: it answers now, not after a normal reset.
    with jazari.connect(virtual_board.port) as device:
        device.put(BAD_MAINS["Ctrl-C disabled"].encode(), "/main.py")
    moved, _info = recover(virtual_board.port)
    assert moved == [("/main.py", f"/main.py{ASIDE}")]


@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGHUP])
def test_a_host_killed_mid_deploy_leaves_a_board_every_tool_reaches(virtual_boards, tmp_path, kill):
    (board,) = virtual_boards(1, baud=115200)  # 200 KB take about 17 s on this line
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(200_000))
    deploy = start_jazari("deploy", str(big), "--port", board.port)
    time.sleep(3)
    assert deploy.poll() is None  # mid-deploy, in link mode
    deploy.send_signal(kill)
    deploy.communicate(timeout=20)
    assert_answers(board.port)  # no command needed first


def test_a_host_killed_mid_monitor_leaves_a_board_every_tool_reaches(virtual_board, tmp_path):
    out = tmp_path / "imu.csv"
    monitor = start_jazari("monitor", virtual_board.port, "--rate", "200", "--record", str(out))
    try:
        wait_for_rows(out, 50)  # telemetry streams
        monitor.send_signal(signal.SIGKILL)
        monitor.communicate(timeout=20)
    finally:
        monitor.kill()
    assert_answers(virtual_board.port)


def test_the_board_leaves_link_mode_by_itself_when_the_host_goes_silent(virtual_board):
    link = LinkSession.open(virtual_board.port)
    link.keepalive.quiet.set()  # the keepalives stop, as when the host dies
    link.device.transport.serial.close()  # no BYE, no Ctrl-C from here on
    time.sleep(WIRE.SILENCE_MS / 1000 + 1)
    with serial.Serial(os.path.realpath(virtual_board.port), timeout=5) as line:
        line.write(b"\x01")  # Ctrl-A alone: only a board back at its REPL answers it
        assert line.read_until(b"raw REPL; CTRL-B to exit\r\n").endswith(b"raw REPL; CTRL-B to exit\r\n")
        line.write(b"\x02")  # back to the friendly REPL


def test_keepalives_hold_the_link_while_the_host_is_busy(virtual_board):
    with LinkSession.open(virtual_board.port) as link:
        link.exec("mark = 1")
        time.sleep(WIRE.SILENCE_MS / 1000 + 1)  # the host computes; its keepalive thread goes on
        assert link.exec("print(mark)") == "1\n"
        assert link.retries == 0


def test_the_port_is_not_closed_under_a_keepalive_being_written(virtual_board):
    # Before: _let_go closed the port without the write lock, so a keepalive already
    # past its check wrote on a closing port (os.write(None): a TypeError in its thread).
    # The keepalive's write is held here until the closing thread has had its chance.
    link = LinkSession.open(virtual_board.port)
    line = link.line
    entered, proceed = threading.Event(), threading.Event()
    real_write = line.write

    def held_write(data):
        if threading.current_thread() is link.keepalive.thread:
            entered.set()
            proceed.wait(10)
        return real_write(data)

    line.write = held_write  # the real port's write, held for the keepalive only
    try:
        assert entered.wait(WIRE.SILENCE_MS / 1000)  # a keepalive is being written
        letting_go = threading.Thread(target=link._let_go)
        letting_go.start()
        letting_go.join(0.5)
        assert letting_go.is_alive() and line.is_open  # it waits for the write to end
    finally:
        proceed.set()
    letting_go.join(10)
    assert not line.is_open and not link.linked


def test_the_kits_boot_py_stops_main_py_while_boot_is_held(virtual_board):
    # GPIO0 low (BOOT pressed) while boot.py runs: it raises, so MicroPython skips main.py.
    held = mpremote(virtual_board.port, "exec", "import machine\nmachine._sim_input(0, 0)\nexec(open('boot.py').read())", check=False)
    assert held.returncode != 0 and b"safe boot (BOOT held)" in held.stderr + held.stdout
    released = mpremote(virtual_board.port, "exec", "import machine\nmachine._sim_input(0, None)\nexec(open('boot.py').read())\nprint('ran')")
    assert released.stdout.decode().strip() == "ran"


def test_a_real_board_that_does_not_answer_is_told_the_buttons():
    # A serial line with nothing behind it is what a real board in trouble looks like.
    # The safe boot is EN first, then BOOT held once the ROM has sampled GPIO0 (BOOT
    # held through the reset is download mode, where boot.py never runs); a bad
    # boot.py itself is only reached through download mode: --reflash.
    master, slave = os.openpty()
    try:
        port = os.ttyname(slave)
        with pytest.raises(JazariError) as error:
            recover(port)
        message = str(error.value)
        assert message.index("Press and release EN (RESET)") < message.index("then at once hold BOOT")
        assert "release BOOT" not in message
        assert f"If its boot.py is what stops it, run 'jazari recover {port} --reflash'" in message
    finally:
        os.close(slave)
        os.close(master)


def test_a_virtual_board_that_does_not_answer_names_recover_not_a_button(virtual_board):
    put_and_restart(virtual_board, {"/main.py": BAD_MAINS["Ctrl-C disabled"]})
    done = run_jazari("info", virtual_board.port)
    assert done.returncode == 1
    assert f"jazari recover {virtual_board.port}" in done.stderr and "button" not in done.stderr


def test_reflash_sets_aside_through_the_rom_bootloader_and_keeps_every_other_file(virtual_board):
    # What a real board whose main.py stops it gets from 'jazari recover PORT
    # --reflash': esptool reads its filesystem, writes it back with main.py aside.
    stuck = BAD_MAINS["Ctrl-C disabled"]
    with jazari.connect(virtual_board.port) as device:
        device.put(stuck.encode(), "/main.py")
        device.exec("import os\nos.mkdir('/lib')")
        device.put(b"my notes\n", "/lib/notes.txt")
    virtual_board.reset(download=True)  # as BOOT held at reset: the ROM bootloader waits
    done = run_jazari("recover", virtual_board.port, "--reflash")
    assert done.returncode == 0, done.stderr
    assert f"/main.py set aside as /main.py{ASIDE}" in done.stdout
    assert_answers(virtual_board.port)
    with jazari.connect(virtual_board.port) as device:
        assert device.get(f"/main.py{ASIDE}").decode() == stuck
        assert device.get("/lib/notes.txt") == b"my notes\n"
        assert device.get("/boot.py") == (firmware_dir() / "boot.py").read_bytes()


def test_reflash_of_a_virtual_board_not_in_download_mode_names_plain_recover(virtual_board):
    done = run_jazari("recover", virtual_board.port, "--reflash")
    assert done.returncode == 1
    assert done.stderr.strip() == f"The virtual board on {virtual_board.port} is not in download mode: 'jazari recover {virtual_board.port}' brings it back without --reflash."


def test_recover_of_a_port_that_does_not_exist_is_one_line(tmp_path):
    done = run_jazari("recover", str(tmp_path / "ttyUSB9"))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"Port {tmp_path / 'ttyUSB9'} does not exist. Plug the board in, or run 'jazari boards' to list ports."]


def test_a_real_board_stuck_inside_a_frame_is_reached_by_the_break(virtual_board):
    # What recover does for a board it cannot reset: the REPL's keys go into
    # the frame the board is reading, so Ctrl-C alone fails; zeros end the
    # frame and the break follows. (Called directly: on a virtual board's port
    # recover itself would do the safe boot instead.)
    from jazari.link.recover import _reach

    first = LinkSession.open(virtual_board.port)
    first.keepalive.quiet.set()
    first.line.write(b"\0\x40P")  # a frame's first bytes, then the host dies
    first.device.transport.close()
    with _reach(virtual_board.port) as device:
        assert device.eval("6 * 7") == 42
