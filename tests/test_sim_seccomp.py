"""The virtual board's seccomp filter (jazari.sim.seccomp), checked in CPython.

Board code can run machine code of its own (viper's ptr8/ptr32 write any
address; a native function's code can be overwritten), so every system call
the filter refuses is tried here as raw machine code would, through libc's
syscall(), in a forked child that installs the launcher's filters; the calls
a board needs (threads, files) must still work there. The numbers are the
x86-64 table's (arch/x86/entry/syscalls/syscall_64.tbl), written out here
apart from the filter's own.
"""

import ctypes
import errno
import json
import os
import threading

import pytest

from jazari.sim import seccomp

pytestmark = pytest.mark.skipif(not seccomp.supported(), reason="the seccomp filter is built for Linux x86-64 only")

CLONE_THREAD, CLONE_NEWUSER, CLONE_NEWNET, SIGCHLD = 0x10000, 0x10000000, 0x40000000, 17
THREAD_FLAGS = 0x3D0F00  # glibc's pthread_create: VM FS FILES SIGHAND THREAD SYSVSEM SETTLS PARENT_SETTID CHILD_CLEARTID
REFUSED = {
    "socket": (41, 2, 1, 0),
    "connect": (42, -1, 0, 0),
    "execve": (59, 0, 0, 0),
    "fork": (57,),
    "vfork": (58,),
    "clone a process": (56, SIGCHLD, 0, 0, 0, 0),
    "clone a thread in a new user namespace": (56, THREAD_FLAGS | CLONE_NEWUSER, 0, 0, 0, 0),
    "clone a thread in a new network": (56, THREAD_FLAGS | CLONE_NEWNET, 0, 0, 0, 0),
    "ptrace": (101, -1, 0, 0, 0),
    "pivot_root": (155, 0, 0),
    "chroot": (161, 0),
    "mount": (165, 0, 0, 0, 0, 0),
    "umount2": (166, 0, 0),
    "init_module": (175, 0, 0, 0),
    "kexec_load": (246, 0, 0, 0, 0),
    "add_key": (248, 0, 0, 0, 0, 0),
    "request_key": (249, 0, 0, 0, 0),
    "keyctl": (250, -1, 0, 0, 0, 0),
    "unshare": (272, CLONE_NEWUSER),
    "perf_event_open": (298, 0, 0, -1, -1, 0),
    "setns": (308, -1, 0),
    "process_vm_readv": (310, 1, 0, 0, 0, 0, 0),
    "process_vm_writev": (311, 1, 0, 0, 0, 0, 0),
    "finit_module": (313, -1, 0, 0),
    "kexec_file_load": (320, -1, -1, 0, 0, 0),
    "bpf": (321, -1, 0, 0),
    "execveat": (322, -1, 0, 0, 0, 0),
    "userfaultfd": (323, 0),
    "io_uring_setup": (425, 1, 0),
    "io_uring_enter": (426, -1, 0, 0, 0, 0, 0),
    "io_uring_register": (427, -1, 0, 0, 0),
    "an x32 call (getpid)": (0x40000000 | 39,),
}
NOT_IMPLEMENTED = {"clone3": (435, 0, 0)}  # the C library then falls back to clone()


def in_filtered_child(check, helper_forked=True):
    """check()'s JSON-able answer, run in a child with the launcher's filters:
    the first (before it forks its kill helper), then the second (after)."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(reader)
            installed = seccomp.install(new_processes=True) and (not helper_forked or seccomp.install())
            answer = check() if installed else "not installed"
            os.write(writer, json.dumps(answer).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as answer:
        text = answer.read()
    os.waitpid(pid, 0)
    return json.loads(text)


def raw_syscalls(calls):
    """{name: errno name or "succeeded"}; a process made by mistake ends at once."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    answers = {}
    for name, (number, *args) in calls.items():
        ctypes.set_errno(0)
        result = libc.syscall(ctypes.c_long(number), *(ctypes.c_long(arg) for arg in args))
        if result == 0 and name.startswith(("fork", "vfork", "clone")):
            os._exit(0)  # the new process, had it been allowed
        answers[name] = errno.errorcode.get(ctypes.get_errno(), "succeeded") if result == -1 else "succeeded"
    return answers


def test_every_refused_call_fails_with_eperm():
    assert in_filtered_child(lambda: raw_syscalls(REFUSED)) == {name: "EPERM" for name in REFUSED}


def test_clone3_answers_not_implemented():
    assert in_filtered_child(lambda: raw_syscalls(NOT_IMPLEMENTED)) == {"clone3": "ENOSYS"}


def test_os_fork_is_refused_after_the_second_filter():
    def fork():
        try:
            if os.fork() == 0:
                os._exit(0)
        except OSError as error:
            return errno.errorcode[error.errno]
        return "forked"

    assert in_filtered_child(fork) == "EPERM"


def test_the_boards_own_calls_still_work(tmp_path):
    path = tmp_path / "flash.bin"
    path.write_bytes(b"flash")

    def board_calls():
        seen = []
        thread = threading.Thread(target=seen.append, args=("thread",))  # clone3 refused, then clone(CLONE_THREAD)
        thread.start()
        thread.join()
        with open(path, "r+b") as flash:
            flash.write(b"FL")
        status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
        return seen + [path.read_bytes().decode(), os.getpid() > 1, status["Seccomp"].strip(), status["Seccomp_filters"].strip()]

    assert in_filtered_child(board_calls) == ["thread", "FLash", True, "2", "2"]


def test_the_first_filter_still_lets_the_launcher_fork_its_helper():
    def fork():
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        return os.waitpid(pid, 0)[1]  # the helper's exit status

    assert in_filtered_child(fork, helper_forked=False) == 0
