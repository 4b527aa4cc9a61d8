"""The virtual board's heap stays honest: what only the virtual board has
(the I2C stand-in, the simulated MPU6050 and its scenario, in MicroPython
where a board has C and a chip) is paid out of the heap held back from
programs (firmware/sim/hostfs.py), not the program's."""

import jazari

# The program's own objects (the bus, the MPU6050 driver) take a few hundred
# bytes; the stand-ins' code (about 10 KB) none. What their loading leaves
# behind comes back to the program until the next stand-in loads (a few KB:
# docs/virtual-board.md), so the difference may go either way, by little.
SLACK = 4096

_MEASURE = """
import gc
def free():
    gc.collect()
    return gc.mem_free()
from kit.hw.imu import MPU6050
before = free()
from machine import I2C, Pin
imu = MPU6050(I2C(0, scl=Pin(22), sda=Pin(21)))
imu.read()
print(before - free())
"""


def test_an_mpu6050_through_the_i2c_stand_in_takes_little_of_the_heap(virtual_board):
    with jazari.connect(virtual_board.port) as device:
        taken = int(device.exec(_MEASURE))
        (ax, ay, az), _ = device.eval("imu.read()")
    assert 0.9 < az < 1.1  # the "still" scenario, read through all of it: 1 g up
    assert abs(taken) < SLACK, taken


def test_a_recorded_scenario_is_replayed_through_the_i2c_stand_in(virtual_boards, tmp_path):
    # The CSV replay loads only for a recording, from the host's firmware/sim
    # (out of the board's sight), when the MPU6050 is first used.
    recording = tmp_path / "tilted.csv"
    recording.write_text("t_ms,ax,ay,az,gx,gy,gz\n0,0.5,0,0.866,0,0,90\n10,0.5,0,0.866,0,0,90\n")
    (board,) = virtual_boards(1, scenario=str(recording))
    with jazari.connect(board.port) as device:
        (ax, ay, az), (gx, gy, gz) = device.eval(
            "__import__('kit.hw.imu').hw.imu.MPU6050(__import__('machine').I2C(0)).read()"
        )
        assert device.eval("'scenario_csv' in __import__('sys').modules") is False
    assert abs(ax - 0.5) < 0.01 and abs(az - 0.866) < 0.01 and abs(gz - 90) < 0.5
