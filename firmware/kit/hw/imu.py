"""MPU6050 accelerometer and gyroscope over I2C.

    from kit.hw.imu import MPU6050
    imu = MPU6050()                 # the I2C pins of this board's profile
    (ax, ay, az), (gx, gy, gz) = imu.read()     # g and degrees per second
    imu.accel_range(8)              # +-8 g
    buf = bytearray(14)
    imu.read_raw_into(buf)          # fast sampling: raw big-endian registers 0x3B..0x48

Register numbers and scales are from InvenSense's "MPU-6000 and MPU-6050
Register Map and Descriptions" (RM-MPU-6000A-00, revision 4.2).
"""

from micropython import const
from struct import unpack_from

_GYRO_CONFIG = const(0x1B)  # FS_SEL in bits 4:3
_ACCEL_CONFIG = const(0x1C)  # AFS_SEL in bits 4:3
_ACCEL_XOUT_H = const(0x3B)  # 14 bytes: accel x y z, temperature, gyro x y z
_TEMP_OUT_H = const(0x41)
_PWR_MGMT_1 = const(0x6B)
_WHO_AM_I = const(0x75)

_SLEEP = const(0x40)  # PWR_MGMT_1 bit 6
_CLK_PLL_X = const(0x01)  # PLL with the X gyro as reference: the datasheet's advice
_MPU6050_ID = const(0x68)  # WHO_AM_I holds the upper six address bits, whatever AD0 is
_BURST = const(14)

# Full scale -> (register field, LSB per unit), from the datasheet's tables.
_ACCEL_SCALES = {2: (0, 16384), 4: (1, 8192), 8: (2, 4096), 16: (3, 2048)}
_GYRO_SCALES = {250: (0, 131.0), 500: (1, 65.5), 1000: (2, 32.8), 2000: (3, 16.4)}


class MPU6050:
    def __init__(self, i2c=None, addr=None, accel_g=2, gyro_dps=250):
        where = "on the given I2C bus"
        if i2c is None:
            from kit import board

            p = board.profile()
            i2c = board.i2c()
            where = "on I2C pins SDA=%d SCL=%d" % (p["i2c_sda"], p["i2c_scl"])
            if addr is None:
                addr = p["imu_addr"]
        self.i2c = i2c
        self.addr = _MPU6050_ID if addr is None else addr
        self._one = bytearray(1)
        self._buf = bytearray(_BURST)
        try:
            found = self._get(_WHO_AM_I)
        except OSError:
            raise OSError("no MPU6050 at 0x%02x %s: check the wiring" % (self.addr, where))
        if found != _MPU6050_ID:
            raise ValueError(
                "the chip at 0x%02x %s is not an MPU6050 (WHO_AM_I is 0x%02x, not 0x68)" % (self.addr, where, found)
            )
        self.wake()
        self.accel_range(accel_g)
        self.gyro_range(gyro_dps)

    def _get(self, reg):
        self.i2c.readfrom_mem_into(self.addr, reg, self._one)
        return self._one[0]

    def _set(self, reg, value):
        self._one[0] = value
        self.i2c.writeto_mem(self.addr, reg, self._one)

    def wake(self):
        self._set(_PWR_MGMT_1, _CLK_PLL_X)

    def sleep(self):
        """Low-power mode: the chip stops measuring until wake()."""
        self._set(_PWR_MGMT_1, _SLEEP | _CLK_PLL_X)

    def _full_scale(self, reg, scales, value, choices):
        if value not in scales:
            raise ValueError("%s, not %r" % (choices, value))
        field, lsb = scales[value]
        self._set(reg, field << 3)
        return lsb

    def accel_range(self, g=None):
        """Set the accelerometer's full scale to 2, 4, 8 or 16 g; return it."""
        if g is not None:
            self.accel_lsb = self._full_scale(_ACCEL_CONFIG, _ACCEL_SCALES, g, "accelerometer range must be 2, 4, 8 or 16 (g)")
            self._accel_g = g
        return self._accel_g

    def gyro_range(self, dps=None):
        """Set the gyroscope's full scale to 250, 500, 1000 or 2000 deg/s; return it."""
        if dps is not None:
            self.gyro_lsb = self._full_scale(_GYRO_CONFIG, _GYRO_SCALES, dps, "gyroscope range must be 250, 500, 1000 or 2000 (deg/s)")
            self._gyro_dps = dps
        return self._gyro_dps

    def read_raw_into(self, buf):
        """Burst-read the 14 data registers into `buf` (bytes: ax ay az temp gx gy gz,
        each big-endian int16). Allocates nothing, for tight sampling loops."""
        self.i2c.readfrom_mem_into(self.addr, _ACCEL_XOUT_H, buf)

    def read(self):
        """((ax, ay, az) in g, (gx, gy, gz) in deg/s), all from one burst read."""
        self.read_raw_into(self._buf)
        ax, ay, az, _, gx, gy, gz = unpack_from(">7h", self._buf)
        a = self.accel_lsb
        g = self.gyro_lsb
        return (ax / a, ay / a, az / a), (gx / g, gy / g, gz / g)

    def temperature(self):
        """The chip's temperature in degrees Celsius."""
        self.i2c.readfrom_mem_into(self.addr, _TEMP_OUT_H, memoryview(self._buf)[:2])
        return unpack_from(">h", self._buf)[0] / 340 + 36.53
