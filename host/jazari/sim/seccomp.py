"""A seccomp filter for the virtual board's MicroPython process (Linux x86-64).

Installed by the launcher just before MicroPython starts: from then on the
process cannot start programs, open network sockets, trace processes or
change mounts and namespaces, whatever it does to its own memory (the Unix
port's uctypes and machine.mem32 can write anywhere in it). The calls fail
with EPERM. A small classic-BPF program, assembled here: the kit ships no
compiled code and libseccomp is not always installed.
"""

import ctypes
import errno
import platform
import struct
import sys

# x86-64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl).
_REFUSED = {
    "socket": 41,
    "connect": 42,
    "execve": 59,
    "ptrace": 101,
    "pivot_root": 155,
    "chroot": 161,
    "mount": 165,
    "umount2": 166,
    "init_module": 175,
    "keyctl": 250,
    "unshare": 272,
    "perf_event_open": 298,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "finit_module": 313,
    "bpf": 321,
    "execveat": 322,
    "userfaultfd": 323,
}
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
# classic BPF opcodes and seccomp constants (linux/filter.h, linux/seccomp.h)
_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06
_RET_ALLOW, _RET_KILL_PROCESS, _RET_ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2
_OFFSET_NR, _OFFSET_ARCH = 0, 4  # in struct seccomp_data


def _program():
    """The filter as bytes of struct sock_filter {u16 code; u8 jt, jf; u32 k}."""
    numbers = sorted(_REFUSED.values())
    count = len(numbers)
    code = [
        (_LD_W_ABS, 0, 0, _OFFSET_ARCH),
        (_JEQ_K, 1, 0, _AUDIT_ARCH_X86_64),
        (_RET_K, 0, 0, _RET_KILL_PROCESS),  # another ABI's numbers mean other calls
        (_LD_W_ABS, 0, 0, _OFFSET_NR),
        (_JGE_K, count + 1, 0, _X32_SYSCALL_BIT),  # jumps count from the next instruction: to the EPERM
    ]
    for index, number in enumerate(numbers):
        code.append((_JEQ_K, count - index, 0, number))
    code += [(_RET_K, 0, 0, _RET_ALLOW), (_RET_K, 0, 0, _RET_ERRNO | errno.EPERM)]
    return b"".join(struct.pack("HBBI", *instruction) for instruction in code), len(code)


def supported():
    return sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")


def install():
    """Filter this process's system calls from now on; False where not supported."""
    if not supported():
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    program, length = _program()
    buffer = ctypes.create_string_buffer(program)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(length, ctypes.addressof(buffer))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0
