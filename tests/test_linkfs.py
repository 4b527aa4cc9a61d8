"""The link's file operations (kit.linkfs) on a virtual board: real MicroPython, real LittleFS."""

from jazari.link.session import LinkSession

# A file of `size` bytes, committed, then opened again for appending and kept
# open in the link's namespace (as a resumed `.part` file is): LittleFS counts
# the blocks the open file shares with its committed version twice.
APPEND_TO_BIG_FILE = """import os
s = os.statvfs('/')
left = s[0] * s[4] * 3 // 5
b = bytes(4096)
with open('/big.bin', 'wb') as f:
    while left > 0:
        f.write(b)
        left -= 4096
appending = open('/big.bin', 'ab')
appending.write(b'tail')
s = os.statvfs('/')
print(s[4] > s[2])"""


def test_a_filesystem_counted_past_full_has_nothing_free(virtual_board):
    with LinkSession.open(virtual_board.port) as link:
        free, total = link.free("/")
        assert 0 < free < total
        wrapped = link.exec(APPEND_TO_BIG_FILE).strip()
        assert wrapped == "True"  # MicroPython's own count has gone round past zero
        assert link.free("/") == (0, total)
        link.exec("appending.close()\nimport os\nos.remove('/big.bin')")
        assert link.free("/")[0] > 0
