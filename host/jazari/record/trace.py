"""What a monitor keeps of the samples it received.

`Recent` holds the last few seconds for the live view (a ring of fixed
size); `Trace` holds everything for the still plot, keeping every sample
until `limit` and then every second one, then every fourth..., so an hour of
16 kHz audio costs as much memory as a minute.
"""

import numpy as np


class Recent:
    """The last `size` samples (board time and values), oldest first."""

    def __init__(self, size, channels):
        self.size = max(2, int(size))
        self.t_us = np.zeros(self.size, dtype=np.int64)
        self.values = np.zeros((self.size, channels), dtype=np.float32)
        self.count = 0  # samples ever added

    def add(self, t_us, values):
        n = len(t_us)
        if n >= self.size:
            self.t_us[:] = t_us[-self.size :]
            self.values[:] = values[-self.size :]
        elif n:
            self.t_us = np.roll(self.t_us, -n)
            self.values = np.roll(self.values, -n, axis=0)
            self.t_us[-n:] = t_us
            self.values[-n:] = values
        self.count += n

    def window(self):
        """(t_us, values) of what is held, oldest first."""
        held = min(self.count, self.size)
        return self.t_us[self.size - held :], self.values[self.size - held :]

    def rate(self):
        """Samples per second measured on the board's clock over the window (0 if unknown)."""
        t_us, _values = self.window()
        if len(t_us) < 2 or t_us[-1] <= t_us[0]:
            return 0.0
        return (len(t_us) - 1) * 1e6 / float(t_us[-1] - t_us[0])


class Trace:
    """All samples received, thinned by 2 each time `limit` is reached."""

    def __init__(self, channels, limit=1 << 20):
        self.limit = limit
        self.stride = 1  # one sample kept in `stride`
        self._skip = 0  # samples to pass before the next kept one
        self._t = []
        self._v = []
        self._held = 0
        self.channels = channels

    def add(self, t_us, values):
        keep = np.arange(self._skip, len(t_us), self.stride)
        self._skip = (self._skip - len(t_us)) % self.stride
        if len(keep):
            self._t.append(np.asarray(t_us)[keep])
            self._v.append(np.asarray(values)[keep])
            self._held += len(keep)
        if self._held > self.limit:
            t_us, values = self.samples()
            if self._held % 2:  # the last kept sample stays: the next is a new stride after it
                self._skip += self.stride
            self._t, self._v = [t_us[::2]], [values[::2]]
            self._held = len(self._t[0])
            self.stride *= 2

    def samples(self):
        if not self._t:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.channels), dtype=np.float32)
        return np.concatenate(self._t), np.concatenate(self._v)
