"""A board's refusal in words: each errno the link can carry back gets one
translated line that names the board path and says what to do."""

import pytest
from record_helpers import run_jazari

from jazari.i18n import set_language
from jazari.link import refusals
from jazari.link.frames import WIRE
from jazari.link.refusals import refusal
from jazari.link.session import LinkError, LinkSession

BOARD_ERRNOS = sorted(number for name, number in vars(refusals).items() if name.startswith("E") and isinstance(number, int))

# What a file request can meet on a board's LittleFS, each caused for real.
REFUSED = {
    "ENOENT": (lambda link: link.remove("/nothing.py"), "/nothing.py"),
    "EISDIR": (lambda link: link.open_file("/kit"), "/kit"),
    "ENOTDIR": (lambda link: link.mkdir("/main.py"), "/main.py"),
    "ENOTEMPTY": (lambda link: link.remove("/kit"), "/kit"),
    "ENAMETOOLONG": (lambda link: link.open_file("/" + "n" * 300), "/" + "n" * 300),
}


def test_deploy_to_a_file_says_what_is_wrong_and_what_to_do(virtual_board, tmp_path):
    (tmp_path / "x.py").write_text("print(1)\n")
    done = run_jazari("deploy", str(tmp_path / "x.py"), "--port", virtual_board.port, "--to", "/boot.py")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines == ["Part of /boot.py/x.py is a file on the board, not a folder: choose a folder (with deploy: --to / or --to /lib)."]
    french = run_jazari("deploy", str(tmp_path / "x.py"), "--port", virtual_board.port, "--to", "/boot.py", lang="fr")
    assert "/boot.py/x.py" in french.stderr and "dossier" in french.stderr


def test_each_refusal_a_board_sends_is_named(virtual_board):
    with LinkSession.open(virtual_board.port) as link:
        for name, (request, path) in REFUSED.items():
            with pytest.raises(LinkError) as refused:
                request(link)
            assert refused.value.code == WIRE.E_OS and refused.value.errno == getattr(refusals, name)
            assert path in refused.value.message and "refused the request" not in refused.value.message
        assert link.exec("print('still linked')") == "still linked\n"


@pytest.mark.parametrize("language", ["en", "fr", "ar"])
def test_every_board_errno_has_its_own_translated_line(language):
    set_language(language)
    try:
        lines = {number: refusal(WIRE.E_OS, number, str(number), "/lib/x.py") for number in BOARD_ERRNOS}
        other = refusal(WIRE.E_OS, 200, "200", "/lib/x.py")
    finally:
        set_language(None)
    assert all("/lib/x.py" in line and "\n" not in line for line in lines.values())
    assert len(set(lines.values()) - {lines[refusals.EPERM]}) == len(lines) - 2  # EPERM and EACCES share one
    assert "200" in other and other not in lines.values()
