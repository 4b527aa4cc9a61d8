"""What each board of a classroom gets: firmware for its chip, the kit, and its identity.

`Classroom.plan` is what `flash_boards` calls once every board has said what
it is: boards in the roster keep their row, new boards take the next free
rows in port order, and the roster is saved with their MAC addresses before
anything is written, so a board keeps its student from one class to the next.
"""

from jazari.errors import JazariError
from jazari.flash.flasher import Job
from jazari.flash.roster import BOARD_PREFIX, Roster, short_id

BOARD_MARCH = "xtensawin"  # ESP32 and ESP32-S3
# A flash chip whose ID esptool does not know (some clones): taken as the
# smallest flash the kit supports, so what is written fits.
FLASH_SIZE_UNKNOWN_ID = 4 << 20


class Classroom:
    def __init__(self, firmware=None, lessons=(), models=(), roster=None, offline=False, cache_dir=None):
        self.firmware_file = firmware
        if firmware is not None:
            from jazari.flash.firmware import check_given

            check_given(firmware)  # a damaged file stops here, in one line, before any board is touched
        self.lessons, self.models = list(lessons), list(models)
        self.roster = Roster(roster) if roster else None  # read now: a bad roster stops before any board is touched
        self.offline, self.cache_dir = offline, cache_dir
        self._firmware = {}  # chip -> Firmware, or the JazariError that refused it
        self._shared = {}  # (chip, flash size, march) -> SharedImage, or the JazariError that refused it

    def plan(self, found):
        """{port: Job or JazariError} for the boards in `found` (in port order)."""
        seats = self.roster.assign([board.mac for board in found]) if self.roster else {}
        if self.roster:
            self.roster.save()
        jobs = {}
        for board in found:
            seat = seats.get(board.mac)
            identity = seat.identity() if seat else {"name": BOARD_PREFIX + short_id(board.mac).lower()}
            try:
                image = self._image(board, identity)
            except JazariError as failure:
                jobs[board.port] = failure
                continue
            jobs[board.port] = Job(image, owner=identity.get("owner", ""), team=identity.get("team", ""), name=identity["name"])
        return jobs

    def _image(self, board, identity):
        """The board's image: the part its chip, flash and march share is built once for the classroom
        (while every board waits), then only its /kit.json is added."""
        key = (board.chip, board.flash_size or FLASH_SIZE_UNKNOWN_ID, _march(board.port))
        if key not in self._shared:
            self._shared[key] = self._build_shared(*key)
        shared = self._shared[key]
        if isinstance(shared, JazariError):
            raise shared
        return shared.for_board(identity)

    def _build_shared(self, chip, flash_size, march):
        from jazari.flash.image import build_shared

        try:
            return build_shared(self._firmware_for(chip), flash_size=flash_size, lessons=self.lessons,
                                models=self.models, march=march)
        except JazariError as failure:
            return failure

    def _firmware_for(self, chip):
        from jazari.flash.firmware import resolve_firmware

        if chip not in self._firmware:
            try:
                self._firmware[chip] = resolve_firmware(chip, self.firmware_file, cache_dir=self.cache_dir, offline=self.offline)
            except JazariError as failure:
                self._firmware[chip] = failure
        found = self._firmware[chip]
        if isinstance(found, JazariError):
            raise found
        return found


def _march(port):
    """A virtual board runs the kit's .mpy on this computer's CPU; a real board on its Xtensa core."""
    from jazari.flash.flasher import is_virtual

    if is_virtual(port):
        from jazari.sim.board import NATIVE_MARCH

        return NATIVE_MARCH
    return BOARD_MARCH
