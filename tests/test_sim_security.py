"""Code on a virtual board reaches the board and nothing of the computer
(docs/security.md). Each attack is sent as a tool sends code (mpremote exec),
fails, and the board answers the next exec as before.

Two layers are shown: the board's own modules (firmware/sim/board_*.py)
refuse, and where a program gets past them (the built-in modules are one
`del sys.modules[...]` away) bubblewrap's confinement still stops the harm.
"""

import os
import signal
import socket
import subprocess
import sys

import pytest

from jazari.flash import layout
from jazari.paths import firmware_dir
from jazari.sim import sandbox, seccomp

MPREMOTE = [sys.executable, "-m", "mpremote"]
# The built-in modules, reached past the board's: what a clever student tries.
BUILTIN_OS = "import sys\nfor m in ('os', 'uos'): sys.modules.pop(m, None)\nimport os\n"
BUILTIN_VFS = "import sys\nsys.modules.pop('vfs', None)\nimport vfs\n"
BUILTIN_SOCKET = "import sys\nfor m in ('socket', 'usocket'): sys.modules.pop(m, None)\nimport socket\n"


def confined(virtual_boards):
    """One esp32 board inside bubblewrap (required; in CI never skipped)."""
    if sandbox.bwrap() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("bwrap is missing in CI: .ci/run installs the bubblewrap package")
        pytest.skip("bubblewrap (bwrap) is not installed: apt install bubblewrap")
    return virtual_boards(1, confined=True)[0]


@pytest.fixture
def board(virtual_boards):
    return confined(virtual_boards)


def run(board, code):
    """(exit code, what the board printed) for `code` sent with mpremote exec."""
    done = subprocess.run([*MPREMOTE, "connect", board.device, "exec", code], capture_output=True, timeout=60)
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace").strip()


def fails(board, code, error):
    """`code` raises `error` on the board, and the board still answers."""
    code_, out = run(board, code)
    assert code_ != 0 and error in out, out
    still_works(board)
    return out


def still_works(board):
    assert run(board, "print(6 * 7)") == (0, "42")


@pytest.mark.parametrize("call", ["os.system('true')", "os.popen('true')", "os.execv('/bin/sh', [])", "os.putenv('A', 'B')"])
def test_the_boards_os_has_no_host_calls(board, call):
    fails(board, f"import os\n{call}", "AttributeError")


def test_the_boards_getenv_knows_the_profile_only(virtual_boards, monkeypatch):
    monkeypatch.setenv("KIT_TEST_SECRET", "hunter2")
    board = confined(virtual_boards)
    code, out = run(board, "import os\nprint([os.getenv(n) for n in ('JAZARI_PROFILE', 'KIT_TEST_SECRET', 'JAZARI_FLASH', 'HOME')])")
    assert (code, out) == (0, "['esp32', None, None, None]")


def test_the_builtin_os_finds_no_shell_to_run(board, tmp_path):
    marker = tmp_path / "pwned"
    code, out = run(board, BUILTIN_OS + f"print('status', os.system('touch {marker}'))")
    assert code == 0 and "status 0" not in out and "status" in out, out
    assert not marker.exists()
    still_works(board)


def test_the_builtin_os_sees_none_of_the_hosts_environment(virtual_boards, monkeypatch):
    monkeypatch.setenv("KIT_TEST_SECRET", "hunter2")  # in the environment the board is started from
    monkeypatch.setenv("HOME", "/home/student")
    code, out = run(confined(virtual_boards), BUILTIN_OS + "print([os.getenv(n) for n in ('KIT_TEST_SECRET', 'HOME', 'PATH')])")
    assert (code, out) == (0, "[None, None, None]")


def test_ffi_is_not_there(board):
    fails(board, "import ffi", "ImportError")


def test_etc_passwd_is_not_there(board):
    fails(board, "open('/etc/passwd')", "ENOENT")
    fails(board, BUILTIN_VFS + "vfs.mount(vfs.VfsPosix('/'), '/host')\nprint(open('/host/etc/passwd').read())", "ENOENT")


def test_the_boards_vfs_has_no_vfsposix_and_refuses_to_mount_one(board):
    fails(board, "import vfs\nvfs.VfsPosix", "AttributeError")
    fails(board, "import os\nos.VfsPosix", "AttributeError")


def test_a_vfsposix_got_past_the_board_shows_no_home_and_no_shell(board):
    code, out = run(board, BUILTIN_VFS + "vfs.mount(vfs.VfsPosix('/'), '/host')\nimport os\nprint(sorted(os.listdir('/host')))")
    assert code == 0, out
    seen = eval(out)  # the listing the board printed
    for absent in ("etc", "home", "bin", "sbin", "proc", "var", "run"):
        assert absent not in seen
    fails(board, BUILTIN_VFS + "vfs.mount(vfs.VfsPosix('/'), '/host')\nopen('/host/bin/sh')", "ENOENT")


def test_the_kits_firmware_files_cannot_be_written(board):
    boot = firmware_dir() / "boot.py"
    before = boot.read_bytes()
    try:
        fails(board, BUILTIN_VFS + f"vfs.mount(vfs.VfsPosix('/'), '/host')\nopen('/host{boot}', 'w').write('x')", "OSError: 30")  # EROFS
        assert boot.read_bytes() == before
    finally:
        if boot.read_bytes() != before:
            boot.write_bytes(before)  # the clone stays clean even when the sandbox failed


def test_a_socket_to_the_computer_is_refused(board):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        connect = f"s = socket.socket()\ns.connect(socket.getaddrinfo('127.0.0.1', {port})[0][-1])"
        fails(board, f"import socket\n{connect}", "OSError")
        fails(board, BUILTIN_SOCKET + connect, "EPERM")  # the seccomp filter; and its network is its own
        listener.settimeout(0.5)
        with pytest.raises(socket.timeout):
            listener.accept()


def test_hostfs_is_not_importable_nor_opens_host_files(board):
    fails(board, "import hostfs", "ImportError")
    fails(board, "import machine\nmachine._hostfs.with_host_path(open, '/etc/passwd')", "ENOENT")


def test_uctypes_reaches_the_boards_objects_only(board):
    code, out = run(board, "import uctypes\nb = bytearray(b'abcd')\nprint(bytes(uctypes.bytearray_at(uctypes.addressof(b), 4)))")
    assert (code, out) == (0, "b'abcd'")
    fails(board, "import uctypes\nuctypes.bytes_at(4096, 16)", "ValueError")
    fails(board, "import uctypes\nb = bytearray(4)\nuctypes.bytes_at(uctypes.addressof(b), 64)", "ValueError")


def test_flash_erase_beyond_the_flash_fails_and_the_file_keeps_its_size(board):
    size = os.path.getsize(board.flash)
    fails(board, f"import esp\nesp.flash_erase({layout.FLASH_SIZE // layout.SECTOR_SIZE + 10})", "OSError")
    fails(board, "import esp\nesp.flash_write(esp.flash_size() - 2, b'1234')", "OSError")
    assert os.path.getsize(board.flash) == size == layout.FLASH_SIZE


def test_import_games_give_back_only_the_boards_modules_or_a_confined_builtin(board, tmp_path):
    marker = tmp_path / "pwned"
    fails(board, "import uos\nuos.system", "AttributeError")
    fails(board, "__import__('uos').system", "AttributeError")
    fails(board, "import sys\nsys.path.insert(0, '/')\nimport hostfs", "ImportError")
    fails(board, "import builtins\ndel builtins.__import__", "KeyError")
    # Overriding __import__ changes what this program imports, nothing more.
    code, out = run(board, "import builtins\nbuiltins.__import__ = lambda *a: None\nimport os\nprint(os)")
    assert (code, out) == (0, "None")
    still_works(board)
    # Past every Python-level check, the built-in os is the process's; the shell is not there.
    code, out = run(board, BUILTIN_OS + f"print(os.system('touch {marker}') != 0)")
    assert (code, out) == (0, "True")
    assert not marker.exists()


def jazari_sim(*args, env=None, tmp_path):
    """`jazari sim ARGS` run until it prints its status line (then Ctrl-C) or ends."""
    env = dict(os.environ, **(env or {}), JAZARI_RUNTIME_DIR=str(tmp_path / "runtime"))
    process = subprocess.Popen(
        [sys.executable, "-m", "jazari.cli", "sim", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
    )
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    finally:
        process.kill()
    return process.returncode, "".join(lines)


@pytest.mark.parametrize(
    "content", [b"\x00", os.urandom(65536), os.urandom(layout.FLASH_SIZE), bytes(layout.FLASH_SIZE)], ids=["one-byte", "random-64k", "random-4mb", "zeros-4mb"]
)
def test_a_bad_flash_file_is_refused_before_boot_in_one_line(tmp_path, content, sim_runtime_dir):
    flash = tmp_path / "bad.bin"
    flash.write_bytes(content)
    code, out = jazari_sim("--flash", str(flash), "--unconfined", tmp_path=tmp_path)
    lines = [line for line in out.splitlines() if "Unconfined" not in line]
    assert code != 0 and len(lines) == 1 and str(flash) in lines[0] and "flash file" in lines[0], out
    assert "Traceback" not in out and "running" not in out
    assert flash.read_bytes() == content


def test_without_bwrap_jazari_sim_refuses_and_names_the_package(tmp_path, sim_runtime_dir):
    code, out = jazari_sim(env={"PATH": str(tmp_path)}, tmp_path=tmp_path)  # no bwrap on this PATH
    assert code != 0 and out.count("\n") == 1 and "bubblewrap" in out and "--unconfined" in out, out


def test_jazari_sim_unconfined_starts_with_a_warning(tmp_path, sim_runtime_dir):
    code, out = jazari_sim("--unconfined", env={"PATH": str(tmp_path)}, tmp_path=tmp_path)
    assert code == 0 and "Unconfined" in out and "sim-esp32-0" in out and "running" in out, out


def test_the_kits_own_boards_run_stripped_and_warn_once_without_bwrap(virtual_boards, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sandbox, "_warned", False)
    (board,) = virtual_boards(1)  # confined=None: the kit's own use (jazari demo, these fixtures)
    virtual_boards(1)
    assert capsys.readouterr().err.count("not confined") == 1
    fails(board, "import os\nos.system('true')", "AttributeError")


def test_an_unconfined_board_on_linux_x86_64_still_starts_no_program_and_opens_no_socket(virtual_boards, tmp_path):
    if not seccomp.supported():
        pytest.skip("the seccomp filter is built for Linux x86-64 only")
    (board,) = virtual_boards(1, confined=False)
    marker = tmp_path / "pwned"
    code, out = run(board, BUILTIN_OS + f"print(os.system('touch {marker}') != 0)")
    assert (code, out) == (0, "True")
    assert not marker.exists()
    fails(board, BUILTIN_SOCKET + "socket.socket()", "EPERM")


def test_open_files_are_limited(board):
    # Files of the computer (here the kit's, read-only) are the process's file
    # descriptors: RLIMIT_NOFILE stops a program that opens them without end.
    boot = firmware_dir() / "boot.py"
    fails(board, BUILTIN_VFS + f"vfs.mount(vfs.VfsPosix('/'), '/host')\nkept = [open('/host{boot}') for i in range(200)]", "OSError: 24")  # EMFILE


def test_nothing_outside_the_flash_and_the_event_log_can_be_written(board):
    # The sandbox's root and /dev are tmpfs in the computer's memory: writable,
    # a program could fill them past every limit the launcher sets.
    for path in ("/tmp/filler", "/dev/shm/filler", "/filler", "/dev/filler"):
        fails(board, BUILTIN_VFS + f"vfs.mount(vfs.VfsPosix('/'), '/host')\nopen('/host{path}', 'w').write('x' * 4096)", "OSError: 30")
    # What the board needs still works: its flash, its event log, /dev/null and /dev/urandom.
    code, out = run(board, "with open('/kept.txt', 'w') as f: f.write('kept')\nprint(open('/kept.txt').read())")
    assert (code, out) == (0, "kept"), out
    logged = board.events_file.stat().st_size
    assert run(board, "import machine\nmachine.Pin(2, machine.Pin.OUT).value(1)")[0] == 0
    assert board.events_file.stat().st_size > logged
    code, out = run(board, BUILTIN_VFS + "vfs.mount(vfs.VfsPosix('/'), '/host')\n"
                    "print(open('/host/dev/null', 'w').write('abc'), len(open('/host/dev/urandom', 'rb').read(8)))")
    assert (code, out) == (0, "3 8"), out


FIND_THE_KILL_HELPER = BUILTIN_VFS + """vfs.mount(vfs.VfsPosix('/'), '/host')
import os
with open('/host/proc/self/stat') as f:
    me = f.read().split()[0]
def status(pid):
    try:
        with open('/host/proc/%s/status' % pid) as f:  # closed at once: the board opens 64 files at most
            return f.read()
    except OSError:
        return ''
helper = [pid for pid in os.listdir('/host/proc') if pid.isdigit() and ('PPid:\\t%s\\n' % me) in status(pid)][0]
"""


def test_the_kill_helper_runs_filtered_and_its_memory_cannot_be_written(virtual_boards):
    # Unconfined (no /proc in the sandbox), where the review reached the helper:
    # forked before the filter, it ran without one, and /proc/PID/mem let board
    # code write its own machine code into it.
    if not seccomp.supported():
        pytest.skip("the seccomp filter is built for Linux x86-64 only")
    (board,) = virtual_boards(1, confined=False)
    code, out = run(board, FIND_THE_KILL_HELPER + "print([line for line in status(helper).split('\\n') if line.startswith('Seccomp:')])")
    assert (code, out) == (0, "['Seccomp:\\t2']"), out
    fails(board, FIND_THE_KILL_HELPER + "open('/host/proc/%s/mem' % helper, 'r+b')", "OSError")


@pytest.mark.parametrize(
    "attack",
    [
        "machine._hostfs.builtin_modules.clear()",
        "machine._hostfs.load('hostfs')",
        "machine._hostfs.load('machine')._hostfs.with_host_path(lambda p: print(open(p).read()), '/etc/passwd')",
        "print([k for k, v in machine._hostfs.load.__globals__.items() if 'hostfs' in repr(v)][0])",
        "machine._hostfs.with_host_path(lambda p: print(open(p).read()), '/etc/passwd')",
    ],
    ids=["builtin-modules", "load-hostfs", "a-fresh-machine", "globals", "with-host-path"],
)
def test_the_boards_host_helper_is_out_of_reach_even_unconfined(virtual_boards, attack):
    # No bwrap behind an unconfined board: the review read /etc/passwd after
    # machine._hostfs.builtin_modules.clear(). The stand-ins' calls are
    # closures now; hostfs itself is reached through none of them.
    (board,) = virtual_boards(1, confined=False)
    code, out = run(board, f"import machine\n{attack}")
    assert code != 0 and "root:" not in out and any(error in out for error in ("AttributeError", "ImportError", "ENOENT", "OSError: 2", "IndexError")), out
    still_works(board)


def test_the_flash_file_cannot_grow_even_past_the_boards_flash_module(board):
    # RLIMIT_FSIZE is the flash file's size, and SIGXFSZ is ignored: the write
    # fails with EFBIG, the board goes on.
    grow = BUILTIN_VFS + f"vfs.mount(vfs.VfsPosix('/'), '/host')\nf = open('/host{board.flash}', 'ab')\nf.write(bytes(65536))"
    fails(board, grow, "OSError: 27")
    assert os.path.getsize(board.flash) == layout.FLASH_SIZE


def test_a_full_event_log_stops_logging_and_the_program_goes_on(board):
    fill = BUILTIN_VFS + (
        f"vfs.mount(vfs.VfsPosix('/'), '/host')\nf = open('/host{board.events_file}', 'ab')\n"
        "try:\n    while True: f.write(bytes(65536))\nexcept OSError as e: print('full', e)"
    )
    code, out = run(board, fill)
    assert (code, out) == (0, "full 27"), out  # EFBIG
    code, out = run(board, "import machine\nmachine.Pin(2, machine.Pin.OUT).value(1)\nprint('on')")
    assert (code, out) == (0, "on"), out
    assert board.events_file.stat().st_size <= layout.FLASH_SIZE
