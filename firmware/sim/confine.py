# The first layer of the virtual board's containment (docs/security.md): once
# the board's flash is mounted, programs import the board's os, vfs, socket
# and uctypes (board_*.py), and the kit's own helper, hostfs, is no longer
# importable. The stand-ins keep the modules they imported at boot. The
# host's confinement of the whole process (bwrap) is what a program that
# gets past this layer still meets.
import sys

_BOARD_MODULES = (
    ("board_os", ("os", "uos", "vfs")),
    ("board_socket", ("socket", "usocket")),
    ("board_uctypes", ("uctypes",)),
)


def confine(rom=None):
    """rom: the (address, size) of the mapped ROMFS image, if any."""
    hostfs = sys.modules.pop("hostfs")
    for source, names in _BOARD_MODULES:
        module = hostfs._import(source)
        module.__name__ = names[0]  # as errors name it on a board
        for name in names:
            # The stand-ins hostfs loads later import the built-in ones.
            hostfs.builtin_modules[name] = __import__(name)
            sys.modules[name] = module
    del sys.modules["confine"]
    if rom:
        sys.modules["uctypes"].allow_rom(*rom)
