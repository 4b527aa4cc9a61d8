"""The supervisor: what makes MicroPython's Unix port behave like a board on a serial port."""

import hashlib
import json
import os
import subprocess
import sys
import time

import pytest
import serial

from jazari.i18n import catalog
from jazari.sim import board as board_module
from jazari.sim import registry
from jazari.sim.profiles import PROFILES, get_profile
from jazari.sim.stream import FRIENDLY_PROMPT, RAW_BANNER, LineRate, RawRestart, ReplMode
from jazari.sim.supervisor import HARD_RESET, PWRON_RESET, SOFT_REBOOT, SOFT_RESET, WDT_RESET, reset_kind

# What the Unix port prints when it starts: boot output, its banner, a prompt.
UNIX_BOOT = b'boot.py says hi\r\nMicroPython 9458e3a23f on 2026-07-05; linux [GCC 14.2.1] version\r\nType "help()" for more information.\r\n>>> '
UNIX_RAW_ENTRY = b"\r\n" + RAW_BANNER + b">"


# -- pure logic


def test_line_rate_sends_baud_over_ten_bytes_a_second():
    line = LineRate(9600)
    sent, now = 0, 0.0
    while now < 2.0:
        count = line.allowance(now)
        line.spend(count, now)
        sent += count
        now += max(line.wait(now), 0.001)
    # 2 s at 960 bytes/s, plus what the FIFO window lets through ahead.
    assert 2 * 960 <= sent <= 2 * 960 + 960 * line.window + 1


def test_line_rate_makes_a_sender_wait_once_its_window_is_full():
    line = LineRate(115200)
    line.spend(line.allowance(0.0), 0.0)
    assert line.allowance(0.0) == 0
    assert line.wait(0.0) > 0
    assert line.allowance(line.wait(0.0)) >= 1


@pytest.mark.parametrize("baud", [300, 115200, 921600])
def test_a_busy_line_is_topped_up_in_bursts_not_byte_by_byte(baud):
    line = LineRate(baud)
    line.spend(line.allowance(0.0), 0.0)  # its FIFO is full
    woken = line.wait(0.0)
    assert woken > 0 and line.allowance(woken) >= max(1, int(line.rate * line.window / 2))


def test_no_baud_means_no_limit():
    line = LineRate(None)
    line.spend(10**6, 0.0)
    assert line.wait(0.0) == 0 and line.allowance(0.0) > 0


@pytest.mark.parametrize("split", range(0, len(UNIX_BOOT) + len(UNIX_RAW_ENTRY), 7))
def test_raw_restart_shows_boot_output_then_only_the_raw_prompt(split):
    stream = UNIX_BOOT + UNIX_RAW_ENTRY
    restart, shown, sent = RawRestart(), b"", b""
    for chunk in (stream[:split], stream[split:]):
        # The Unix port prints the raw banner only once it has been asked for it.
        if chunk and not sent and UNIX_RAW_ENTRY in chunk:
            head, tail = chunk.split(UNIX_RAW_ENTRY[:2] + RAW_BANNER[:1], 1)
            more_shown, more_sent = restart.feed(head)
            shown, sent = shown + more_shown, sent + more_sent
            chunk = UNIX_RAW_ENTRY[:2] + RAW_BANNER[:1] + tail
        more_shown, more_sent = restart.feed(chunk)
        shown, sent = shown + more_shown, sent + more_sent
    assert restart.done
    assert sent == b"\x01"
    assert shown == b"boot.py says hi\r\n" + RAW_BANNER + b">"


def test_repl_mode_follows_the_last_banner():
    mode = ReplMode()
    mode.feed(UNIX_BOOT)
    assert not mode.raw and mode.prompted
    mode.feed(UNIX_RAW_ENTRY[:10])
    mode.feed(UNIX_RAW_ENTRY[10:])
    assert mode.raw
    mode.feed(b"OK>>> printed by a program\x04\x04>")
    assert mode.raw
    mode.feed(UNIX_BOOT.replace(b"boot.py says hi", b""))
    assert not mode.raw


def test_exit_codes_become_the_resets_of_a_board():
    assert reset_kind(0, False) == (SOFT_RESET, None)  # Ctrl-D, sys.exit()
    assert reset_kind(HARD_RESET, False)[0] == HARD_RESET  # machine.reset()
    assert reset_kind(-11, False) == (HARD_RESET, "panic")  # the interpreter crashed
    assert reset_kind(0, True) == (PWRON_RESET, "poweron")  # the host pressed EN
    assert reset_kind(-2, False) == (SOFT_RESET, None)  # Ctrl-C just as code ended
    assert reset_kind(-15, False, "wdt")[0] == WDT_RESET  # logged from an interrupt handler, then SIGTERM


def test_every_profile_prints_its_chips_rom_banner():
    for profile in PROFILES.values():
        for why in ("poweron", "software", "deepsleep", "watchdog", "panic"):
            assert "rst:0x" in profile.reset_text(why)


def test_without_the_unix_port_the_reason_and_the_way_out_are_given(monkeypatch):
    monkeypatch.setattr(board_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(board_module.JazariError) as refused:
        board_module.check_platform()
    assert "jazari boards" in refused.value.message
    assert "\n" not in refused.value.message


# -- the command line


def jazari(*args):
    env = dict(os.environ, JAZARI_LANG="en")
    return subprocess.run([sys.executable, "-m", "jazari.cli", *args], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("lang", ["en", "fr", "ar"])
def test_unknown_profile_is_one_translated_line_and_exit_code_2(lang):
    done = jazari("--lang", lang, "sim", "--board", "nope")
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    msgid = "Unknown board profile '{name}'. Use one of: {known}."
    expected = (catalog(lang).get(msgid) if lang != "en" else msgid) or ""
    assert expected, f"no {lang} translation"
    assert lines[0] == expected.format(name="nope", known=", ".join(PROFILES))


def test_unknown_scenario_is_one_line_and_exit_code_2():
    done = jazari("sim", "--scenario", "no-such-scenario.csv")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "no-such-scenario.csv" in done.stderr


def test_jazari_sim_prints_the_port_and_stops_cleanly_on_ctrl_c(sim_runtime_dir):
    sim = subprocess.Popen(
        [sys.executable, "-m", "jazari.cli", "sim", "--count", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        ports = [sim.stdout.readline().decode().strip() for _ in range(2)]
        assert all(os.path.exists(port) for port in ports)
        assert sorted(entry["port"] for entry in registry.running_boards()) == sorted(ports)
    finally:
        sim.send_signal(2)
        out, err = sim.communicate(timeout=30)
    assert sim.returncode == 0
    assert not any(os.path.exists(port) for port in ports)
    assert registry.running_boards() == []


# -- a board on its serial port


class Terminal:
    """A tool on the board's port: pyserial, reading what the board prints."""

    def __init__(self, port):
        self.serial = serial.Serial(port, timeout=0.2)
        self.seen = b""

    def send(self, data):
        self.serial.write(data)

    def expect(self, marker, timeout=30):
        deadline = time.monotonic() + timeout
        while marker not in self.seen and time.monotonic() < deadline:
            self.seen += self.serial.read(4096)
        assert marker in self.seen, self.seen[-400:]
        before, self.seen = self.seen.split(marker, 1)
        return before

    def run(self, line):
        """Type `line` at the friendly prompt; what it printed up to the next prompt."""
        self.send(line)
        return self.expect(FRIENDLY_PROMPT)

    def prompt(self):
        self.send(b"\r")
        self.expect(FRIENDLY_PROMPT)
        self.seen = b""

    def close(self):
        self.serial.close()


@pytest.fixture
def terminal(virtual_board):
    tool = Terminal(virtual_board.port)
    yield tool
    tool.close()


def boots(board):
    return [event.args[0] for event in board.events() if event.kind == "boot"]


def test_bytes_pass_unchanged_both_ways(terminal):
    every_byte_but_ctrl_c = bytes(b for b in range(256) if b != 3)
    terminal.prompt()
    terminal.send(b"import sys; sys.stdout.buffer.write(bytes(range(256))); print(sys.stdin.buffer.read(255))\r")
    terminal.expect(b"\r\n")  # the echo of the line
    # Every byte arrives; outside the kit's link a "\n" goes out as a board's
    # printed line end, "\r\n" (docs/virtual-board.md, "Limits").
    assert terminal.expect(bytes(range(256)).replace(b"\n", b"\r\n")) == b""
    time.sleep(0.2)
    terminal.send(every_byte_but_ctrl_c)
    assert repr(every_byte_but_ctrl_c).encode() in terminal.expect(FRIENDLY_PROMPT)


def test_ctrl_c_interrupts_running_code_but_is_data_after_kbd_intr_off(terminal):
    terminal.prompt()
    terminal.send(b"while True: pass\r\r")
    time.sleep(0.3)
    terminal.send(b"\x03")
    assert b"KeyboardInterrupt" in terminal.expect(FRIENDLY_PROMPT)
    terminal.send(b"import micropython, sys; micropython.kbd_intr(-1); print(sys.stdin.buffer.read(3))\r")
    terminal.expect(b"\r\n")
    time.sleep(0.3)
    terminal.send(b"a\x03b")
    assert repr(b"a\x03b").encode() in terminal.expect(FRIENDLY_PROMPT)


def test_ctrl_d_at_the_friendly_prompt_is_a_soft_reboot(virtual_board, terminal):
    terminal.prompt()
    terminal.run(b"kept = 1\r")
    terminal.send(b"\x04")
    terminal.expect(SOFT_REBOOT)
    terminal.expect(FRIENDLY_PROMPT)
    assert b"False" in terminal.run(b"print('kept' in globals())\r")
    assert boots(virtual_board)[-1] == SOFT_RESET


def test_host_reset_keeps_the_flash_and_shows_the_rom_banner(virtual_board, terminal):
    terminal.prompt()
    terminal.run(b"with open('note.txt', 'w') as note: note.write('kept')\r\r")
    virtual_board.reset()
    terminal.expect(virtual_board.profile.reset_text("poweron").encode())
    terminal.expect(FRIENDLY_PROMPT)
    assert b"kept" in terminal.run(b"print(open('note.txt').read())\r")
    assert boots(virtual_board)[-1] == PWRON_RESET


def test_machine_reset_is_a_hard_reset(virtual_board, terminal):
    terminal.prompt()
    terminal.send(b"import machine; machine.reset()\r")
    terminal.expect(virtual_board.profile.reset_text("software").encode())
    terminal.expect(FRIENDLY_PROMPT)
    assert str(HARD_RESET).encode() in terminal.run(b"import machine; print(machine.reset_cause())\r")


def test_machine_reset_from_a_timer_callback_is_a_hard_reset_too(virtual_board, terminal):
    terminal.prompt()
    terminal.send(b"import machine; machine.Timer(0).init(period=20, mode=machine.Timer.ONE_SHOT, callback=lambda t: machine.reset()); import time; time.sleep(2)\r")
    assert b"Guru Meditation" not in terminal.expect(virtual_board.profile.reset_text("software").encode())
    terminal.expect(FRIENDLY_PROMPT)
    assert boots(virtual_board)[-1] == HARD_RESET


def test_a_crashed_interpreter_is_restarted(virtual_board, terminal):
    terminal.prompt()
    # A fatal error in C: the Unix port's uctypes reading address 16
    # (LoadProhibited on a board), reached past the board's own uctypes.
    terminal.send(b"import sys; sys.modules.pop('uctypes'); import uctypes; uctypes.bytes_at(16, 4)\r")
    terminal.expect(b"Guru Meditation Error")
    terminal.expect(FRIENDLY_PROMPT)
    assert b"42" in terminal.run(b"print(6 * 7)\r")


def test_with_nobody_listening_the_board_keeps_running(virtual_board, terminal):
    terminal.prompt()
    terminal.send(b"for i in range(20000): print(i, 'x' * 40)\r\r")
    terminal.send(b"import machine; machine.Pin(2, machine.Pin.OUT).value(1)\r")
    terminal.close()  # a megabyte of output is coming, and nobody reads it
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(e.kind == "pin" and e.args == (2, 1) for e in virtual_board.events()):
        time.sleep(0.2)
    assert any(e.kind == "pin" and e.args == (2, 1) for e in virtual_board.events())


def test_a_paced_line_still_carries_every_byte(virtual_boards):
    (board,) = virtual_boards(1, baud=115200)
    tool = Terminal(board.port)
    try:
        tool.prompt()
        printed = tool.run(b"print('-'.join(str(i) for i in range(300)))\r")
        assert "-".join(str(i) for i in range(300)).encode() in printed
    finally:
        tool.close()


def test_a_boot_that_fails_is_one_clear_line_and_a_kept_log(virtual_boards, tmp_path, monkeypatch):
    start = tmp_path / "broken_start.py"
    start.write_text("import os\nprint('cannot mount the flash')\nos.unsetenv('MICROPYINSPECT')\nraise SystemExit(1)\n")
    monkeypatch.setenv("JAZARI_SIM_START", str(start))
    with pytest.raises(board_module.JazariError) as failed:
        virtual_boards(1)
    assert failed.value.message.endswith("cannot mount the flash")
    (log,) = tmp_path.glob("jazari-sim-*/supervisor.log")
    assert "cannot mount the flash" in log.read_text()


def test_the_registry_lists_running_boards_and_ignores_dead_ones(virtual_boards, sim_runtime_dir):
    boards = virtual_boards(2, profile="esp32s3")
    listed = {entry["name"]: entry for entry in registry.running_boards()}
    for board in boards:
        assert listed[board.name]["port"] == board.port
        assert listed[board.name]["uid"] == board.uid
    stale = registry.runtime_dir() / "boards" / "sim-ghost-0.json"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale.write_text(json.dumps({"pid": int(dead.stdout), "port": "/nowhere", "name": "sim-ghost-0"}))
    assert "sim-ghost-0" not in {entry["name"] for entry in registry.running_boards()}
    boards[0].stop()
    assert boards[0].name not in {entry["name"] for entry in registry.running_boards()}


def test_free_heap_after_boot_is_the_profiles(virtual_board, terminal):
    terminal.prompt()
    free = int(terminal.run(b"import gc; gc.collect(); print(gc.mem_free())\r").split()[-1])
    expected = get_profile("esp32").heap
    assert abs(free - expected) < expected * 0.1


def test_a_romfs_partition_is_read_in_place_from_the_flash_file(virtual_boards, tmp_path):
    from mpremote.romfs import make_romfs

    from jazari.flash import layout
    from jazari.flash.vfs import new_flash_file

    rom_source = tmp_path / "rom"
    rom_source.mkdir()
    weights = os.urandom(60 * 1024)  # more than the board could copy into its heap twice
    (rom_source / "weights.bin").write_bytes(weights)
    image = make_romfs(str(rom_source), mpy_cross=False)
    flash = tmp_path / "romfs-flash.bin"
    new_flash_file(flash, table=layout.ROMFS_TABLE)
    with open(flash, "r+b") as raw:
        raw.seek(layout.ROMFS.offset)
        raw.write(image)
    (board,) = virtual_boards(1, flash=flash)
    tool = Terminal(board.port)
    try:
        tool.prompt()
        # Hashing a memoryview of the mapped file: 60 KB are read without being copied to the heap.
        printed = tool.run(
            b"import hashlib, binascii, vfs, gc; gc.collect(); free = gc.mem_free(); "
            b"f = open('/rom/weights.bin', 'rb'); view = memoryview(f); "
            b"print(binascii.hexlify(hashlib.sha256(view).digest()).decode(), free - gc.mem_free() < 8192)\r"
        )
    finally:
        tool.close()
    assert hashlib.sha256(weights).hexdigest().encode() + b" True" in printed
