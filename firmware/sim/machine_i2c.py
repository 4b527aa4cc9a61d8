# machine.I2C and machine.SoftI2C for the virtual board. Every bus reaches the
# same simulated devices whatever its pins: an MPU6050 at 0x68, served by
# mpu6050.Mpu6050Sim over the scenario named by JAZARI_SCENARIO. An address
# with no device raises OSError(ENODEV), as a real bus does.
import os
from micropython import const
from machine import _hostfs as hostfs

_ENODEV = const(19)
_MPU6050 = const(0x68)
_PRESENT = (_MPU6050,)
_devices = {}  # address -> device, created on first use and shared by every bus


def _device(addr):
    if addr not in _PRESENT:
        raise OSError(_ENODEV)
    dev = _devices.get(addr)
    if dev is None:
        dev = _devices[addr] = hostfs.off_heap(_new_mpu6050)
    return dev


def _new_mpu6050():
    scenario = hostfs.load("scenario")
    source = hostfs.with_host_path(lambda spec: scenario.open_source(spec, hostfs.load), os.getenv("JAZARI_SCENARIO") or "still")
    return hostfs.load("mpu6050").Mpu6050Sim(source)


class I2C:
    def __init__(self, id=0, *, scl=None, sda=None, freq=400000, timeout=50000):
        if id not in (0, 1, -1):
            raise ValueError("I2C(%d) doesn't exist" % id)
        self._id = id
        self.init(scl=scl, sda=sda, freq=freq)

    def init(self, *, scl=None, sda=None, freq=400000, timeout=50000):
        self._freq = freq

    def deinit(self):
        pass

    def __repr__(self):
        return "I2C(%d, freq=%d)" % (self._id, self._freq)

    def scan(self):
        return sorted(_PRESENT)

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        return bytes(_device(addr).read(memaddr, nbytes))

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        buf[:] = _device(addr).read(memaddr, len(buf))

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        _device(addr).write(memaddr, bytes(buf))

    def writeto(self, addr, buf, stop=True):
        dev = _device(addr)
        if len(buf):
            dev.write(buf[0], bytes(buf[1:]))  # the first byte sets the chip's register pointer
        return len(buf)  # every byte acknowledged

    def writevto(self, addr, vector, stop=True):
        return self.writeto(addr, b"".join([bytes(b) for b in vector]), stop)  # join takes bytes only

    def readfrom(self, addr, nbytes, stop=True):
        return _device(addr).read(None, nbytes)  # from the chip's register pointer, which moves on

    def readfrom_into(self, addr, buf, stop=True):
        buf[:] = self.readfrom(addr, len(buf), stop)


class SoftI2C(I2C):
    def __init__(self, scl, sda, *, freq=400000, timeout=50000):
        super().__init__(-1, scl=scl, sda=sda, freq=freq)
