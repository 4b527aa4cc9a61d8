"""A board's identity in /kit.json, read by kit.board under the real MicroPython."""

import json

import pytest

from test_firmware_kit import mpy  # noqa: F401  (the fixture that runs firmware code in MicroPython)

INFO = """
import kit.board as b
b.CONFIG = %r
print(json.dumps(b.info()))
"""


def test_info_reports_name_owner_and_team(mpy, tmp_path):
    config = tmp_path / "kit.json"
    config.write_text(json.dumps({"name": "jazari-07", "owner": "أمينة بنعلي", "team": "Les Faucons"}, ensure_ascii=False))
    info = mpy(INFO % str(config), env={"JAZARI_PROFILE": "esp32"})
    assert (info["name"], info["owner"], info["team"]) == ("jazari-07", "أمينة بنعلي", "Les Faucons")
    assert info["board"] == "virtual-esp32" and "config_error" not in info


def test_identity_keys_go_with_wiring_keys(mpy, tmp_path):
    config = tmp_path / "kit.json"
    config.write_text(json.dumps({"board": "esp32-cam", "led_pin": 4, "name": "jazari-02", "owner": "Yanis"}))
    info = mpy(INFO % str(config), env={"JAZARI_PROFILE": "esp32"})
    assert info["board"] == "esp32-cam" and info["name"] == "jazari-02" and "team" not in info


def test_a_board_without_kit_json_has_no_name(mpy, tmp_path):
    info = mpy(INFO % str(tmp_path / "absent.json"), env={"JAZARI_PROFILE": "esp32"})
    assert not {"name", "owner", "team", "config_error"} & set(info)


@pytest.mark.parametrize("content, words", [('{"name": "jazari-0', ["is not valid JSON"]), ('{"bord": "x"}', ["'bord' is not a board field"])])
def test_a_broken_kit_json_is_reported_not_raised(mpy, tmp_path, content, words):
    config = tmp_path / "kit.json"
    config.write_text(content)
    info = mpy(INFO % str(config), env={"JAZARI_PROFILE": "esp32"})
    assert info["board"] == "virtual-esp32" and info["kit"]
    for word in words:
        assert word in info["config_error"]
