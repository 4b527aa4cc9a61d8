"""Where the virtual board's sensor values come from.

    source = open_source("walking")     # or "still", "shaking", "/path/rec.csv"
    ax, ay, az, gx, gy, gz = source.sample(t_us)     # g and deg/s

The generators are sums of sines per axis, written out in WAVES so a test
can compute what a sensor must read at any time. A CSV file (header
`t_ms,ax,ay,az,gx,gy,gz`) is replayed by scenario_csv.py, loaded only then.

The board's heap pays for this module (a real MPU6050 costs it nothing), so
the tables are text, a few hundred bytes, and only the scenario in use is
turned into numbers: written as tuples of floats, the three took 4 KB.
"""

from math import pi, sin
from micropython import const

_VALUES = const(6)

# Per axis (ax, ay, az in g; gx, gy, gz in deg/s), "|" between axes: the
# offset, then amplitude, Hz and phase of each sine.
# Walking: steps at 2 Hz push forward and up; the body sways at the stride, 1 Hz.
# Shaking: the board shaken hard by hand, 6 Hz on every axis.
_TABLES = {
    "still": "0|0|1|0|0|0",
    "walking": "0 .2 2 0|0 .1 1 0|1 .35 2 1.5708 .1 4 0|0 15 1 0|0 30 2 0|0 10 1 1.5708",
    "shaking": "0 1.2 6 0|0 .6 6 1|1 .4 6 2|0 180 6 .5|0 120 6 1.5|0 60 6 2.5",
}
# Sensor noise: a fixed pseudo-random pattern (changes every millisecond,
# same on every run) of at most this size, for accelerometer and gyroscope.
NOISE = (0.004, 0.1)


class _Tables:
    # WAVES[name]: the scenario `name` per axis, (offset, ((amplitude, Hz,
    # phase), ...)); the tables stay text until one is asked for.
    def __getitem__(self, name):
        axes = []
        for axis in _TABLES[name].split("|"):
            numbers = [float(n) for n in axis.split()]
            axes.append((numbers[0], tuple(tuple(numbers[i:i + 3]) for i in range(1, len(numbers), 3))))
        return tuple(axes)


WAVES = _Tables()


class Waves:
    def __init__(self, name):
        self.name = name
        self._axes = WAVES[name]

    def sample(self, t_us):
        t = t_us / 1000000
        t_ms = t_us // 1000
        out = []
        for axis in range(_VALUES):
            offset, parts = self._axes[axis]
            # the noise: in [-1, 1], fixed for a given millisecond and axis
            value = offset + NOISE[axis // 3] * (((t_ms * 7919 + axis * 104729) % 2001) / 1000.0 - 1.0)
            for amplitude, hz, phase in parts:
                value += amplitude * sin(2 * pi * hz * t + phase)
            out.append(value)
        return out


def open_source(spec=None, load=__import__):
    """A scenario from its name ("still", "walking", "shaking") or a CSV path.
    `load(module_name)` imports scenario_csv (the virtual board passes its
    hostfs.load, which finds it out of the board's sight)."""
    spec = spec or "still"
    if spec in _TABLES:
        return Waves(spec)
    if spec.endswith(".csv") or "/" in spec:
        return load("scenario_csv").CsvReplay(spec)
    raise ValueError("unknown scenario %r: use still, walking, shaking or the path of a .csv file" % spec)
