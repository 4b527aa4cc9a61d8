# esp32.NVS for the virtual board: the API and errors of the port's NVS,
# stored as JSON in the `nvs` partition (not ESP-IDF's page format: only this
# stand-in reads it back). Settings survive resets, as on a board.
import struct
from micropython import const
import flashdev
from esp32 import Partition

_NVS_MAGIC = b"JZNV"
_ERR_NVS_NOT_FOUND = const(-4354)
_ENOSPC = const(28)

_nvs = None  # {namespace: {key: int or bytes}}, kept in the `nvs` partition


def _nvs_area():
    return Partition.find(Partition.TYPE_DATA, 2)[0]


def _nvs_load():
    global _nvs
    if _nvs is None:
        import json

        area = _nvs_area()
        head = bytearray(8)
        area.readblocks(0, head)
        _nvs = {}
        if head[:4] == _NVS_MAGIC:
            body = bytearray(struct.unpack_from("<I", head, 4)[0])
            area.readblocks(0, body, 8)
            for ns, keys in json.loads(body).items():
                _nvs[ns] = {k: (bytes.fromhex(v) if isinstance(v, str) else v) for k, v in keys.items()}
    return _nvs


class NVS:
    def __init__(self, namespace):
        self._keys = _nvs_load().setdefault(namespace, {})

    def _get(self, key):
        try:
            return self._keys[key]
        except KeyError:
            raise OSError(_ERR_NVS_NOT_FOUND, "ESP_ERR_NVS_NOT_FOUND")

    def set_i32(self, key, value):
        self._keys[key] = int(value)

    def get_i32(self, key):
        return self._get(key)

    def set_blob(self, key, value):
        self._keys[key] = bytes(value)

    def get_blob(self, key, buffer):
        value = self._get(key)
        buffer[: len(value)] = value
        return len(value)

    def erase_key(self, key):
        self._get(key)
        del self._keys[key]

    def commit(self):
        import json

        plain = {ns: {k: (v.hex() if isinstance(v, bytes) else v) for k, v in keys.items()} for ns, keys in _nvs.items()}
        body = json.dumps(plain).encode()
        area = _nvs_area()
        if len(body) + 8 > area.size:
            raise OSError(_ENOSPC)
        data = _NVS_MAGIC + struct.pack("<I", len(body)) + body
        flashdev.erase(area.offset, (len(data) + flashdev.SECTOR - 1) // flashdev.SECTOR * flashdev.SECTOR)
        flashdev.write(area.offset, data)
