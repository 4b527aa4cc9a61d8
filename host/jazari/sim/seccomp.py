"""A seccomp filter for the virtual board's MicroPython process (Linux x86-64).

Installed by the launcher just before MicroPython starts: from then on the
process cannot start programs or new processes, open network sockets, use
io_uring, trace processes or change mounts and namespaces, whatever code it
runs (board code can write machine code of its own: viper's ptr8/ptr32). The
calls fail with EPERM (clone3 with ENOSYS, which makes the C library use clone). A small classic-BPF program, assembled here: the kit ships no
compiled code and libseccomp is not always installed.
"""

import ctypes
import errno
import platform
import struct
import sys

# x86-64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl).
# A deny-list: what board code could use to reach past its process. Board code
# can run machine code of its own (viper's ptr8/ptr32, native functions), so
# this is checked on every call, not only on the ones MicroPython makes.
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
    "kexec_load": 246,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "unshare": 272,
    "perf_event_open": 298,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "finit_module": 313,
    "kexec_file_load": 320,
    "bpf": 321,
    "execveat": 322,
    "userfaultfd": 323,
    # io_uring does its work in the kernel without the calls above passing here
    # (a socket made through it is never seen as socket()).
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
}
# New processes: none once the launcher has forked its kill helper. Threads
# (MicroPython's _thread) are clone() with CLONE_THREAD; clone3 passes its
# flags in memory a filter cannot read, so it answers "not implemented" and
# the C library falls back to clone().
_NEW_PROCESSES = {"fork": 57, "vfork": 58}
_CLONE, _CLONE3 = 56, 435
_CLONE_THREAD = 0x00010000
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET: new namespaces
_CLONE_NEW_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
# classic BPF opcodes and seccomp constants (linux/filter.h, linux/seccomp.h)
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_RET_ALLOW, _RET_KILL_PROCESS, _RET_ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_PR_SET_DUMPABLE, _PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 4, 38, 22, 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_OFFSET_NR, _OFFSET_ARCH, _OFFSET_ARG0 = 0, 4, 16  # in struct seccomp_data; ARG0's low word (little-endian)


def _program(new_processes):
    """The filter as bytes of struct sock_filter {u16 code; u8 jt, jf; u32 k}.

    Jumps are written to labels ("eperm", "enosys", "clone") and
    resolved to BPF's offsets (counted from the next instruction) at the end.
    """
    refused = sorted(_REFUSED.values()) + ([] if new_processes else sorted(_NEW_PROCESSES.values()))
    code = [
        (_LD_W_ABS, 0, 0, _OFFSET_ARCH),
        (_JEQ_K, 1, 0, _AUDIT_ARCH_X86_64),
        (_RET_K, 0, 0, _RET_KILL_PROCESS),  # another ABI's numbers mean other calls
        (_LD_W_ABS, 0, 0, _OFFSET_NR),
        (_JGE_K, "eperm", 0, _X32_SYSCALL_BIT),
    ]
    code += [(_JEQ_K, "eperm", 0, number) for number in refused]
    if not new_processes:
        code += [(_JEQ_K, "enosys", 0, _CLONE3), (_JEQ_K, "clone", 0, _CLONE)]
    code.append((_RET_K, 0, 0, _RET_ALLOW))
    labels = {}
    if not new_processes:  # BPF jumps forward only: the thread's own "allow"
        labels["clone"] = len(code)
        code += [
            (_LD_W_ABS, 0, 0, _OFFSET_ARG0),
            (_JSET_K, "eperm", 0, _CLONE_NEW_NAMESPACES),
            (_JSET_K, 0, "eperm", _CLONE_THREAD),
            (_RET_K, 0, 0, _RET_ALLOW),
        ]
    labels["eperm"] = len(code)
    code.append((_RET_K, 0, 0, _RET_ERRNO | errno.EPERM))
    labels["enosys"] = len(code)
    code.append((_RET_K, 0, 0, _RET_ERRNO | errno.ENOSYS))

    def offset(target, index):
        return labels[target] - index - 1 if isinstance(target, str) else target

    resolved = [(op, offset(jt, i), offset(jf, i), k) for i, (op, jt, jf, k) in enumerate(code)]
    return b"".join(struct.pack("HBBI", *instruction) for instruction in resolved), len(resolved)


def supported():
    return sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")


def _drop_capabilities(libc):
    """Give up every capability (a board run by root, unconfined, has them all:
    CAP_SYS_PTRACE would open the kill helper's /proc/PID/mem for writing)."""
    header = struct.pack("Ii", _LINUX_CAPABILITY_VERSION_3, 0)  # this process
    nothing = bytes(2 * 3 * 4)  # two sets of {effective, permitted, inheritable}
    return libc.capset(header, nothing) == 0


def install(new_processes=False):
    """Filter this process's system calls from now on; False where not supported.

    Filters add up: one installed with new_processes=True (the launcher, before
    it forks its helper) and then one without (each of the two, after) leave
    both processes with every refusal. Also makes the process undumpable and
    drops its capabilities: no process of the same user, the other one of the
    two included, opens its /proc/PID/mem without CAP_SYS_PTRACE.
    """
    if not supported():
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    _drop_capabilities(libc)
    program, length = _program(new_processes)
    buffer = ctypes.create_string_buffer(program)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(length, ctypes.addressof(buffer))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0
