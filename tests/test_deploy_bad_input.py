"""`jazari deploy` given what it cannot do: each refusal is one translated
line, and no file on the board is ever left half-written. (The missing local
file, a full filesystem caught before copying, and the link's version and
kit checks are in test_wire_link.py.)"""

import os

import pytest
from test_wire_link import deploy_cli

import jazari
from jazari.errors import JazariError
from jazari.i18n import set_language
from jazari.link.deploy import PART, deploy, plan
from jazari.link.frames import WIRE
from jazari.link.session import LinkSession
from jazari.paths import firmware_dir

# Run over the link mid-copy: another writer takes all the room that is left.
FILL_UP = """import os
n = 0
try:
    while True:  # small files, each closed (committed) before the next
        with open('/other%d.bin' % n, 'wb') as f:
            f.write(bytes(4096))
        n += 1
except OSError:
    os.remove('/other%d.bin' % n)
print(n)"""


def in_french(call):
    set_language("fr")
    try:
        return call()
    finally:
        set_language(None)


def test_filesystem_that_fills_up_mid_copy_keeps_the_old_file(virtual_board, tmp_path):
    model = tmp_path / "model.tflite"
    model.write_bytes(b"old model")
    with LinkSession.open(virtual_board.port) as link:
        deploy(link, plan([str(model)]))
        model.write_bytes(os.urandom(30_000))

        def fill_up(_remote, done, _total):
            if done and not filled:
                filled.append(link.exec(FILL_UP))

        filled = []
        with pytest.raises(JazariError) as full:
            in_french(lambda: deploy(link, plan([str(model)]), progress=fill_up))
        assert int(filled[0]) > 100  # the other writer took the room
        assert link.read("/model.tflite") == b"old model"
        assert link.file_hash("/model.tflite" + PART) is None  # nothing half-written stays
        # A full LittleFS may count more blocks in use than it has (free blocks wrap around).
        free_now = int(link.exec("import os\ns = os.statvfs('/')\nprint(s[0] * s[4] if s[4] <= s[2] else 0)"))
    message = full.value.message
    assert "Pas assez de place" in message and f"{free_now / 1024:.1f} Ko sont libres" in message and "\n" not in message


def test_deploy_to_a_board_with_an_old_kit_or_none(virtual_board, tmp_path):
    main = tmp_path / "lesson3.py"
    main.write_text("print('hello')\n")
    wire_source = (firmware_dir() / "kit" / "wire.py").read_text()
    older = wire_source.replace(f"VERSION = const({WIRE.VERSION})", f"VERSION = const({WIRE.VERSION - 1})")
    with jazari.connect(virtual_board.port) as device:
        device.put(older.encode(), "/kit/wire.py")
        device.soft_reset()
    with pytest.raises(JazariError, match="jazari flash") as old_kit:
        in_french(lambda: deploy_cli(str(main), "--port", virtual_board.port))
    assert f"protocole de liaison {WIRE.VERSION - 1}," in old_kit.value.message
    with jazari.connect(virtual_board.port) as device:
        device.exec("import os\nos.rename('/kit', '/kit-away')")  # plain MicroPython now
        device.soft_reset()
    with pytest.raises(JazariError, match="jazari flash") as no_kit:
        in_french(lambda: deploy_cli(str(main), "--port", virtual_board.port))
    assert "kit" in no_kit.value.message and "\n" not in no_kit.value.message
    with jazari.connect(virtual_board.port) as device:
        assert not [name for name in device.eval("__import__('os').listdir('/')") if name.startswith("lesson3")]
