# machine.RTC for the virtual board: the host's clock plus the offset set by
# datetime(). Like the board, the setting lasts until the next hard reset.
import time

_offset = 0  # seconds added to the host's clock, shared by every RTC()


class RTC:
    def __init__(self, id=0):
        self._memory = b""

    def init(self, datetime):
        self.datetime(datetime)

    def datetime(self, datetimetuple=None):
        global _offset
        if datetimetuple is None:
            t = time.localtime(time.time() + _offset)
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
        y, mo, d, wd, h, mi, s = datetimetuple[:7]
        _offset = time.mktime((y, mo, d, h, mi, s, 0, 0)) - time.time()

    def memory(self, data=None):
        if data is None:
            return self._memory
        self._memory = bytes(data)
