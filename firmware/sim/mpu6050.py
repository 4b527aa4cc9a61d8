"""A register-level MPU6050 for the virtual board's I2C bus (address 0x68).

The virtual board's machine.I2C passes register reads and writes for 0x68
here; sensor values come from a scenario (see scenario.py):

    sim = Mpu6050Sim(scenario.open_source("walking"))
    sim.write(0x6B, b"\\x00")          # wake (PWR_MGMT_1)
    sim.read(0x3B, 14)                 # accel, temperature, gyro: big-endian int16

It follows the "MPU-6000 and MPU-6050 Register Map and Descriptions"
(revision 4.2): power-on values (PWR_MGMT_1 = 0x40, asleep; WHO_AM_I = 0x68),
DEVICE_RESET, full-scale selection in ACCEL_CONFIG and GYRO_CONFIG, and the
register pointer that auto-increments through a burst. While asleep the
data registers read 0.
"""

import time
from micropython import const
from struct import pack_into

ADDRESS = const(0x68)

_GYRO_CONFIG = const(0x1B)
_ACCEL_CONFIG = const(0x1C)
_DATA_FIRST = const(0x3B)  # ACCEL_XOUT_H
_DATA_END = const(0x49)  # one past GYRO_ZOUT_L
_PWR_MGMT_1 = const(0x6B)
_WHO_AM_I = const(0x75)
_REGISTERS = const(0x80)

_DEVICE_RESET = const(0x80)
_SLEEP = const(0x40)
_INT16_MAX = const(32767)
_INT16_MIN = const(-32768)

_ACCEL_LSB = (16384, 8192, 4096, 2048)  # per g, by AFS_SEL
_GYRO_LSB = (131.0, 65.5, 32.8, 16.4)  # per deg/s, by FS_SEL
_ROOM_C = 25.0  # used when the scenario has no temperature


class Mpu6050Sim:
    def __init__(self, source, clock=time.ticks_us):
        """`source.sample(t_us)` gives (ax, ay, az, gx, gy, gz) in g and deg/s at
        `t_us` microseconds after this chip was powered; `clock` is the tick
        counter that time is read from (time.ticks_us on the virtual board)."""
        self.source = source
        self._clock = clock
        self._last_tick = clock()
        self._t_us = 0
        self._regs = bytearray(_REGISTERS)
        self.pointer = 0  # the register a read without an address starts at
        self._power_on()

    def _power_on(self):
        regs = self._regs
        for i in range(_REGISTERS):
            regs[i] = 0
        regs[_PWR_MGMT_1] = _SLEEP
        regs[_WHO_AM_I] = ADDRESS

    def _measure(self):
        regs = self._regs
        if regs[_PWR_MGMT_1] & _SLEEP:
            for i in range(_DATA_FIRST, _DATA_END):
                regs[i] = 0
            return
        # Time since power-on, accumulated tick by tick so that it keeps
        # counting through the tick counter's wrap-around.
        tick = self._clock()
        self._t_us += time.ticks_diff(tick, self._last_tick)
        self._last_tick = tick
        ax, ay, az, gx, gy, gz = self.source.sample(self._t_us)
        a = _ACCEL_LSB[(regs[_ACCEL_CONFIG] >> 3) & 3]
        g = _GYRO_LSB[(regs[_GYRO_CONFIG] >> 3) & 3]
        celsius = getattr(self.source, "temperature", _ROOM_C)
        at = _DATA_FIRST
        for value in (ax * a, ay * a, az * a, (celsius - 36.53) * 340, gx * g, gy * g, gz * g):
            pack_into(">h", regs, at, max(_INT16_MIN, min(_INT16_MAX, round(value))))
            at += 2

    def read(self, reg=None, n=1):
        """`n` bytes from register `reg` on (or from the register pointer)."""
        if reg is None:
            reg = self.pointer
        end = reg + n
        if reg < _DATA_END and end > _DATA_FIRST:
            self._measure()  # one sample for the whole burst, as the chip latches it
        regs = self._regs
        out = bytearray(n)
        for i in range(n):
            r = reg + i
            if r < _REGISTERS:
                out[i] = regs[r]
        self.pointer = end % _REGISTERS
        return bytes(out)

    def write(self, reg, data=b""):
        """Write `data` from register `reg` on; read-only registers keep their value.
        An empty write only moves the register pointer, as on the bus."""
        regs = self._regs
        for i in range(len(data)):
            r = reg + i
            value = data[i]
            if r == _PWR_MGMT_1 and value & _DEVICE_RESET:
                self._power_on()  # the reset bit clears itself
            elif r < _REGISTERS and r != _WHO_AM_I and not _DATA_FIRST <= r < _DATA_END:
                regs[r] = value
        self.pointer = (reg + len(data)) % _REGISTERS
