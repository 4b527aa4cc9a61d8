"""What the telemetry streams sample (kit.sampler does the timing).

    source = open_source("imu", {"accel_g": 4})
    source.read_into(ring, at)       # one sample, packed: allocates nothing

Each source says what a sample holds: channel names, units, the packed
type (a NumPy dtype code: the host reads it as it is) and the scale that
turns a raw number into its unit (value = raw * scale). Timer sources
(block 1) read one sample per call; the microphone fills blocks itself
from I2S DMA, straight into the sampler's ring.
"""

from micropython import const

_MIC_BLOCK = const(256)  # samples per I2S read: 16 ms at 16 kHz
_MIC_IBUF = const(8192)  # bytes of I2S DMA buffer: 256 ms at 16 kHz


class Imu:
    name = "imu"
    channels = ("ax", "ay", "az", "gx", "gy", "gz")
    units = ("g", "g", "g", "deg/s", "deg/s", "deg/s")
    dtype = ">i2"  # the MPU6050's registers, big-endian, copied as they are
    size = 12
    block = 1
    rates = (1, 1000)
    default_rate = 100
    options = ("accel_g", "gyro_dps")

    def __init__(self, options):
        from kit.hw.imu import MPU6050

        imu = MPU6050(accel_g=options.get("accel_g", 2), gyro_dps=options.get("gyro_dps", 250))
        self.scales = (1 / imu.accel_lsb,) * 3 + (1 / imu.gyro_lsb,) * 3
        self._read = imu.read_raw_into
        self._burst = bytearray(14)

    def read_into(self, ring, at):
        burst = self._burst
        self._read(burst)
        for i in range(6):  # accelerometer, then (past the temperature) the gyroscope
            ring[at + i] = burst[i]
            ring[at + 6 + i] = burst[8 + i]


class Adc:
    name = "adc"
    units = ("V",)
    dtype = "<u2"
    scales = (3.3 / 65535,)  # read_u16's full scale, at 11 dB attenuation about 3.3 V
    size = 2
    block = 1
    rates = (1, 1000)
    default_rate = 100
    options = ("pin",)

    def __init__(self, options):
        import machine

        pin = options.get("pin")
        if pin is None:
            raise ValueError("the adc stream needs a pin, e.g. pin=34")
        self.channels = ("gpio%d" % pin,)
        self._adc = machine.ADC(machine.Pin(pin), atten=machine.ADC.ATTN_11DB)

    def read_into(self, ring, at):
        value = self._adc.read_u16()
        ring[at] = value & 0xFF
        ring[at + 1] = value >> 8


class Button:
    name = "button"
    channels = ("pressed",)
    units = ("",)
    dtype = "u1"
    scales = (1.0,)
    size = 1
    block = 1
    rates = (1, 1000)
    default_rate = 50
    options = ()

    def __init__(self, options):
        import kit.hw.button as button

        button.pressed()  # sets the pin up, or says the board has no button
        self._pin = button._pin

    def read_into(self, ring, at):
        ring[at] = 1 - self._pin.value()  # the pin reads 0 while held


class Mic:
    name = "mic"
    channels = ("sound",)
    units = ("FS",)  # fractions of full scale
    dtype = "<i2"
    scales = (1 / 32768,)
    size = 2
    block = _MIC_BLOCK
    rates = (8000, 16000)
    default_rate = 16000
    options = ()

    def __init__(self, options):
        from kit.board import CONFIG, profile

        p = profile()
        mic = p["mic"]
        if mic is None or mic.get("kind") != "i2s":
            raise ValueError("board %s has no I2S microphone: set mic in %s" % (p["name"], CONFIG))
        self._pins = mic
        self._i2s = None

    def start(self, sampler):
        import machine

        mic = self._pins
        self._sampler = sampler
        view = sampler.ring_view
        self._slots = [view[at:at + _MIC_BLOCK * 2] for at in range(0, len(view), _MIC_BLOCK * 2)]
        self._mask = len(self._slots) - 1
        self._done_ref = self._done
        i2s = machine.I2S(
            0, sck=machine.Pin(mic["sck"]), ws=machine.Pin(mic["ws"]), sd=machine.Pin(mic["sd"]),
            mode=machine.I2S.RX, bits=16, format=machine.I2S.MONO, rate=sampler.rate, ibuf=_MIC_IBUF,
        )
        self._i2s = i2s
        i2s.irq(self._done_ref)  # non-blocking: readinto returns at once, _done when full
        i2s.readinto(self._slots[0])

    def _done(self, i2s):
        # Runs as a soft IRQ: the next block goes to the next slot, whatever it held.
        if self._i2s is None:
            return  # stopped meanwhile
        at = self._sampler.filled()
        i2s.readinto(self._slots[(at // (_MIC_BLOCK * 2)) & self._mask])

    def stop(self):
        i2s, self._i2s = self._i2s, None
        if i2s is not None:
            i2s.deinit()
        self._slots = self._sampler = None


SOURCES = {"imu": Imu, "adc": Adc, "button": Button, "mic": Mic}
STREAM_OPTIONS = ("buffer", "latency_ms")  # kit.linkstream's, for every source


def open_source(name, options):
    """The source called `name`, set up with `options` (a dict)."""
    kind = SOURCES.get(name)
    if kind is None:
        raise ValueError("no source %r: the board streams %s (camera frames are not streamed)" % (name, ", ".join(sorted(SOURCES))))
    known = kind.options + STREAM_OPTIONS
    for option in options:
        if option not in known:
            raise ValueError("%s has no option %r: it takes %s" % (name, option, ", ".join(known)))
    return kind(options)


def check_rate(source, rate):
    """`rate` (0: the source's default) if the source can keep it; ValueError if not."""
    rate = rate or source.default_rate
    rates = source.rates
    if source.block > 1:  # a clocked peripheral: only the rates it has
        if rate not in rates:
            raise ValueError("%s samples at %s Hz, not %d" % (source.name, " or ".join(str(r) for r in rates), rate))
    elif not rates[0] <= rate <= rates[1]:
        raise ValueError("%s samples at %d to %d Hz, not %d" % (source.name, rates[0], rates[1], rate))
    return rate
