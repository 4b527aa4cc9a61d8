"""The USB cable pulled and plugged in again, on virtual boards: the port
vanishes under the host (pyserial fails as on a real USB port), the board
loses power, and the host says so in one line, keeps every file whole, and
carries on in the same process once the cable is back."""

import argparse
import io
import os
import time

import pytest
from record_helpers import cut_short
from test_wire_link import board_files, deploy_cli, lesson_folder

import jazari
from jazari.console import console
from jazari.errors import JazariError
from jazari.i18n import set_language
from jazari.link.deploy import PART, deploy, plan
from jazari.link.session import LinkSession
from jazari.sim.commands import do_cable, register
from jazari.sim.registry import board_entry, running_boards

PWRON_RESET = 1  # machine.reset_cause() after power-on


def test_cable_pulled_mid_deploy_then_deploy_again_resumes(virtual_board, tmp_path):
    folder = lesson_folder(tmp_path, big=1000)
    with LinkSession.open(virtual_board.port) as link:
        deploy(link, plan([str(folder)]))
    model = folder / "models" / "gesture.tflite"
    old, new = model.read_bytes(), os.urandom(60_000)
    model.write_bytes(new)

    def pull_the_cable(_remote, done, _total):
        if done >= 30_000 and virtual_board.device:
            virtual_board.unplug()

    with pytest.raises(JazariError) as pulled:
        with LinkSession.open(virtual_board.port) as link:
            deploy(link, plan([str(folder)]), progress=pull_the_cable)
    message = pulled.value.message
    assert "unplugged" in message and "/lesson/models/gesture.tflite" in message and "\n" not in message
    assert not os.path.exists(virtual_board.port)

    virtual_board.replug()  # same process: nothing restarted on the host
    with jazari.connect(virtual_board.port) as device:
        assert device.get("/lesson/models/gesture.tflite") == old  # the old file, whole
        part = device.get("/lesson/models/gesture.tflite" + PART)
        assert device.eval("__import__('machine').reset_cause()") == PWRON_RESET
    assert len(part) < len(new) and new.startswith(part)  # only the temporary file is partial
    code, out = deploy_cli(str(folder), "--port", virtual_board.port)
    assert code == 0 and "1 copied, 2 unchanged" in out
    with LinkSession.open(virtual_board.port) as link:
        assert link.read("/lesson/models/gesture.tflite") == new
    assert not any(path.endswith(PART) for path in board_files(virtual_board.port))


def test_cable_pulled_during_exec_then_the_same_process_reconnects(virtual_board):
    device = jazari.connect(virtual_board.port)
    device.exec("kept = 42")

    def pull_the_cable(_data):
        if virtual_board.device:
            virtual_board.unplug()

    set_language("fr")
    try:
        with pytest.raises(JazariError, match="débranchée") as pulled:
            device.exec("print('go')\nimport time\ntime.sleep(5)", on_output=pull_the_cable)
    finally:
        set_language(None)
    assert virtual_board.port in pulled.value.message
    device.close()  # no error: there is nothing left to close
    with pytest.raises(JazariError, match="does not exist"):
        jazari.connect(virtual_board.port)
    assert virtual_board.name not in [entry["name"] for entry in running_boards()]

    virtual_board.replug()
    with jazari.connect(virtual_board.port) as device:
        # Power was lost: the REPL's variables are gone, the reset cause is power-on.
        assert device.eval("'kept' in globals()") is False
        assert device.eval("__import__('machine').reset_cause()") == PWRON_RESET
    with LinkSession.open(virtual_board.port) as link:
        assert link.exec("print(6 * 7)") == "42\n"


def _wait_for(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def jazari_sim(*argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["sim", *argv])
    return args.func(args)


def test_jazari_sim_pulls_and_plugs_the_cable_of_a_running_board(virtual_board):
    assert jazari_sim("--unplug", virtual_board.name) == 0
    _wait_for(lambda: not os.path.exists(virtual_board.port))
    assert board_entry(virtual_board.name)["unplugged"]
    virtual_board.reset()  # no power: the button does nothing
    do_cable(virtual_board.name, plug=True)
    _wait_for(lambda: os.path.exists(virtual_board.port))
    _wait_for(lambda: sum(event.kind == "boot" for event in virtual_board.events()) == 2)
    with jazari.connect(virtual_board.port) as device:
        assert device.eval("1 + 1") == 2
    with pytest.raises(JazariError, match="No virtual board called nope"):
        do_cable("nope", plug=True)


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_deploy_shows_one_progress_bar_on_a_terminal_only(virtual_board, tmp_path):
    folder = lesson_folder(tmp_path, big=30_000)
    before = console.err
    try:
        console.err = quiet = io.StringIO()
        code, out = deploy_cli(str(folder / "main.py"), "--port", virtual_board.port)
        assert code == 0 and quiet.getvalue() == ""  # not a terminal: no bar
        console.err = terminal = Terminal()
        code, out = deploy_cli(str(folder), "--port", virtual_board.port)
    finally:
        console.err = before
    assert code == 0 and "3 copied" in out
    shown = terminal.getvalue()
    assert "3/3 files" in shown and "KB/s" in shown
    assert "KiB" in shown  # bytes done of all: rich's DownloadColumn


def test_cable_pulled_under_an_open_link_every_request_says_unplugged_in_one_line(virtual_board):
    link = LinkSession.open(virtual_board.port)
    assert link.exec("print(6 * 7)") == "42\n"
    virtual_board.unplug()
    set_language("fr")
    try:
        with pytest.raises(JazariError, match="débranchée") as pulled:
            link.exec("print(1)")
    finally:
        set_language(None)
    assert virtual_board.port in pulled.value.message and "\n" not in pulled.value.message
    with pytest.raises(JazariError, match="unplugged"):  # the session stays closed, and says why
        link.file_hash("/main.py")
    link.close()  # nothing left to close, nothing raised
    link.close()
    virtual_board.replug()
    with LinkSession.open(virtual_board.port) as again:
        assert again.exec("print(6 * 7)") == "42\n"


@pytest.mark.parametrize("lang, said", [("en", "unplugged"), ("fr", "débranchée")])
def test_cable_pulled_under_monitor_is_one_translated_line_and_keeps_what_came(virtual_board, tmp_path, lang, said):
    out = tmp_path / "cut.csv"
    pull_the_cable = lambda _process: virtual_board.unplug()  # noqa: E731
    code, stdout, stderr = cut_short(out, pull_the_cable, "--lang", lang, "monitor", virtual_board.port, "--rate", "200", "--record", str(out))
    assert code == 1 and "Traceback" not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1 and said in stderr and virtual_board.port in stderr, stderr
    assert len(out.read_text().splitlines()) > 30  # what came before is kept
