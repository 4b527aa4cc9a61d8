"""Was the board's last flash finished? What `jazari info` asks before calling a board fine.

`jazari flash` writes `/kit.json` last (sealing.py): until the end, the
board's `/kit.json` says {"flashing": true}; at the end it holds the SHA-256
of the kit's files. Code sent from here reads `/kit.json` and hashes the kit
the board would import (`/kit` on the filesystem, else `/rom/kit`) the way
sealing.kit_digest does, so a board that stopped mid-flash, or whose kit
differs from what was flashed, is called half-flashed. A board never flashed
by jazari (no `/kit.json`, or one without the digest) gets no verdict.
"""

import ast
import json

from jazari.errors import JazariError
from jazari.flash.sealing import FLASHING_KEY, KIT_DIGEST_KEY, KIT_JSON
from jazari.i18n import _

# Runs on the board (MicroPython): nothing but os, hashlib and binascii; no kit import,
# since a half-flashed board may have no kit at all.
_READ_CODE = """
import os, hashlib, binascii
def _files(folder, rel, out):
    for entry in os.ilistdir(folder):
        path = folder + '/' + entry[0]
        if entry[1] == 0x4000:
            _files(path, rel + '/' + entry[0], out)
        else:
            out.append((rel + '/' + entry[0], path))
def _kit():
    for root in ('/kit', '/rom/kit'):
        try:
            os.stat(root)
        except OSError:
            continue
        files = []
        _files(root, '', files)
        files.sort()
        h, buf = hashlib.sha256(), bytearray(512)
        for rel, path in files:
            h.update(rel.encode() + b'\\0' + str(os.stat(path)[6]).encode() + b'\\0')
            with open(path, 'rb') as f:
                while True:
                    n = f.readinto(buf)
                    if not n:
                        break
                    h.update(memoryview(buf)[:n])
        return binascii.hexlify(h.digest()).decode()
def _record():
    try:
        with open(%r) as f:
            return f.read()
    except OSError:
        return None
print(repr((_record(), _kit())))
del _files, _kit, _record
"""


def half_flashed_reason(record, kit_sha256):
    """Why the board is half-flashed, from its /kit.json text and its kit's digest; None if it is not."""
    try:
        config = json.loads(record) if record is not None else {}
    except ValueError:
        return None  # kit.board reports a broken /kit.json itself (config_error)
    if not isinstance(config, dict):
        return None
    if config.get(FLASHING_KEY):
        return "interrupted"
    expected = config.get(KIT_DIGEST_KEY)
    if expected and expected != kit_sha256:
        return "kit"
    return None


def check_flashed(device, port):
    """Raise a translated JazariError when the board on `port` (connected as `device`) is half-flashed."""
    record, kit_sha256 = ast.literal_eval(device.exec(_READ_CODE % KIT_JSON, timeout=30).strip())
    reason = half_flashed_reason(record, kit_sha256)
    if reason == "interrupted":
        raise JazariError(
            _("The board on {port} is half-flashed: its last flash was stopped before the end. Flash it again "
              "(jazari flash {port}).").format(port=port)
        )
    if reason == "kit":
        raise JazariError(
            _("The board on {port} is half-flashed: its kit's files are not the ones flashed. Flash it again "
              "(jazari flash {port}).").format(port=port)
        )
