"""Telemetry streams (issue 4, items 1 and 2): the board's sampler under the real
MicroPython, and streams from virtual boards with faults injected on the line.

Every sample the board took must be accounted for, as received, dropped by the
board (reported in its batches) or lost on the way (found by the host from the
sample numbers): received + dropped + lost == taken, the count the board gives
when the stream stops. The microphone's sound is a tone whose value at sample k
is known, so a damaged sample that slipped through, or one out of place, shows.
"""

import math
import struct
import wave

import numpy
import pytest
from test_firmware_kit import mpy  # noqa: F401  (the fixture: MicroPython with firmware/ on its path)
from test_wire_link import SpoiledReads

import jazari
from jazari.errors import JazariError
from jazari.i18n import set_language
from jazari.link.frames import WIRE, pack
from jazari.link.session import LinkError, LinkSession
from jazari.link.telemetry import Stream, StreamInfo
from jazari.paths import firmware_dir

TONE_HZ = 440.0
TONE_LEVEL = 8192  # what firmware/sim/machine_i2s.py plays by default


def tone(index, n, rate=16000):
    k = numpy.arange(index, index + n)
    return numpy.round(TONE_LEVEL * numpy.sin(2 * math.pi * TONE_HZ * k / rate))


# -- the sampler alone, under MicroPython --------------------------------------------

COUNTER = """
import time, micropython
from kit.sampler import Sampler

class Counter:
    # Writes how many samples it has read so far, as a little-endian u16.
    name = "count"; channels = ("n",); units = ("",); dtype = "<u2"; scales = (1.0,); size = 2; block = 1
    def __init__(self):
        self.n = 0
    def read_into(self, ring, at):
        ring[at] = self.n & 0xFF
        ring[at + 1] = (self.n >> 8) & 0xFF
        self.n += 1

def tick_without_heap(s):
    micropython.heap_lock()
    try:
        s._tick(None)
    except MemoryError:
        micropython.heap_unlock()
        return False
    micropython.heap_unlock()
    return True
"""


def test_a_tick_reads_every_sample_owed_and_allocates_nothing(mpy):  # noqa: F811
    before, after, written, clean, first_batch = mpy(
        COUNTER
        + """
s = Sampler(0, Counter(), 1000, buffer=4096)
t0 = time.ticks_us()
s._due = s._t_taken = t0
time.sleep_ms(30)
before = time.ticks_diff(time.ticks_us(), t0)
clean = tick_without_heap(s)
after = time.ticks_diff(time.ticks_us(), t0)
buf = bytearray(2200)
size = s.take(buf, 0, 2176, True)
print(json.dumps([before, after, s.written, clean, list(buf[:size])]))
"""
    )
    assert clean  # the timer's callback is a soft IRQ: it must not allocate
    # Sample k is owed at t0 + k ms: a late tick reads all of those due by then.
    assert before // 1000 + 1 <= written <= after // 1000 + 1
    stream_id, first, ticks, dropped = struct.unpack_from("<BIII", bytes(first_batch))
    samples = struct.unpack_from("<%dH" % written, bytes(first_batch), WIRE.BATCH_HEADER)
    assert (stream_id, first, dropped) == (0, 0, 0) and list(samples) == list(range(written))


def test_a_full_ring_drops_the_oldest_and_counts_every_drop(mpy):  # noqa: F811
    rounds = mpy(
        COUNTER
        + """
s = Sampler(0, Counter(), 1000, buffer=512)
s._due = s._t_taken = time.ticks_us()
buf = bytearray(2200)
rounds = []
for pause in (400, 50, 700, 10):
    time.sleep_ms(pause)
    s._tick(None)
    size = s.take(buf, 0, 2176, True)
    rounds.append([s.written, s.cap, list(buf[:size])])
print(json.dumps(rounds))
"""
    )
    taken = 0
    total_dropped = 0
    for written, cap, batch in rounds:
        _id, first, _ticks, dropped = struct.unpack_from("<BIII", bytes(batch))
        n = (len(batch) - WIRE.BATCH_HEADER) // 2
        values = struct.unpack_from("<%dH" % n, bytes(batch), WIRE.BATCH_HEADER)
        assert dropped - total_dropped == first - taken  # every sample skipped is a drop, counted
        assert n <= cap and first + n == written  # the newest samples are kept
        assert list(values) == list(range(values[0], values[0] + n))  # consecutive, in order
        total_dropped, taken = dropped, first + n
    assert total_dropped > 0


def test_the_virtual_microphone_plays_a_tone_or_a_wav_file(mpy, tmp_path):  # noqa: F811
    ramp = numpy.arange(-300, 300, dtype="<i2")  # 600 frames, then it loops
    wav = tmp_path / "ramp.wav"
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(ramp.tobytes())
    tone_blocks, wav_blocks = mpy(
        """
import machine
def record(spec):
    machine.I2S._sim_source(spec)
    mic = machine.I2S(0, sck=machine.Pin(32), ws=machine.Pin(25), sd=machine.Pin(33),
                      mode=machine.I2S.RX, bits=16, format=machine.I2S.MONO, rate=16000, ibuf=4096)
    blocks = []
    for _ in range(3):  # blocking reads: one block follows the other
        buf = bytearray(800)
        mic.readinto(buf)
        blocks.append(list(buf))
    mic.deinit()
    return blocks
print(json.dumps([record("tone:440"), record("%s")]))
"""
        % wav
    )
    tone_values = numpy.frombuffer(bytes(sum(tone_blocks, [])), dtype="<i2")
    wav_values = numpy.frombuffer(bytes(sum(wav_blocks, [])), dtype="<i2")
    assert numpy.abs(tone_values - tone(0, 1200)).max() <= 1
    assert numpy.array_equal(wav_values, numpy.resize(ramp, 1200))


# -- streams from a virtual board ---------------------------------------------------


def test_imu_stream_at_1_khz_while_requests_are_answered(virtual_board):
    with LinkSession.open(virtual_board.port) as link:
        stream = link.open_stream("imu", 1000)
        assert stream.info.channels == ("ax", "ay", "az", "gx", "gy", "gz")
        assert stream.info.units == ("g",) * 3 + ("deg/s",) * 3 and stream.info.rate_hz == 1000
        batches = [stream.read(3.0) for _ in range(3)]
        assert link.exec("print(6 * 7)") == "42\n"  # requests are answered mid-stream
        assert link._ping() == WIRE.VERSION
        batches += [stream.read(3.0) for _ in range(3)]
        stream.close()
        assert link.exec("print('after')") == "after\n"  # the session goes on
        assert link.decoder.corrupt == 0  # nothing but frames on the line (no IRQ error text)
    times = numpy.concatenate([b.t_us for b in batches])
    values = numpy.concatenate([b.values for b in batches])
    # One sample per millisecond of board time, none missing, none twice.
    assert numpy.all(numpy.diff(times) == 1000) and batches[0].index == 0
    assert all(b.dropped == 0 and b.lost == 0 for b in batches)
    assert stream.totals.lost == 0 and stream.totals.received >= len(times)
    # The "still" scenario: 1 g straight up, no rotation (scales from the declaration).
    assert numpy.allclose(values.mean(axis=0), [0, 0, 1, 0, 0, 0], atol=0.02)


def test_adc_and_button_streams_follow_the_pins(virtual_board):
    with LinkSession.open(virtual_board.port) as link:
        with link.open_stream("adc", 200, pin=34) as adc:
            assert adc.info.channels == ("gpio34",) and adc.info.units == ("V",)
            before = adc.read(3.0).values[:, 0]
            link.exec("import machine\nmachine._sim_analog(34, 40000)")
            after = numpy.concatenate([adc.read(3.0).values[:, 0] for _ in range(4)])
        # the virtual ADC reads mid-scale until a level is set
        assert before[0] == pytest.approx(32768 * 3.3 / 65535, abs=1e-3)
        assert after[-1] == pytest.approx(40000 * 3.3 / 65535, abs=1e-3)
        with link.open_stream("button", 100) as button:
            assert button.read(3.0).raw.max() == 0
            link.exec("machine._sim_input(0, 0)")  # BOOT held down
            pressed = numpy.concatenate([button.read(3.0).raw[:, 0] for _ in range(3)])
        assert pressed[-1] == 1


def test_two_streams_at_once_each_get_their_own_batches(virtual_board):
    with LinkSession.open(virtual_board.port) as link:
        imu = link.open_stream("imu", 200)
        button = link.open_stream("button", 50)
        assert imu.info.stream_id != button.info.stream_id
        got = {imu: [], button: []}
        for _ in range(6):
            for stream in (button, imu):  # the slower one first: the other's frames wait for it
                got[stream].append(stream.read(3.0))
        imu.close()
        button.close()
    for stream, batches in got.items():
        assert all(b.info is stream.info for b in batches)
        numbers = numpy.concatenate([numpy.arange(b.index, b.index + len(b.raw)) for b in batches])
        assert numpy.array_equal(numbers, numpy.arange(len(numbers)))  # every sample, in order
        assert stream.totals.lost == 0 and stream.totals.dropped == 0


def test_bad_stream_requests_are_refused_clearly(virtual_board):
    with LinkSession.open(virtual_board.port) as link:
        with pytest.raises(LinkError, match="no source 'camera'.*imu"):
            link.open_stream("camera")
        with pytest.raises(LinkError, match="imu samples at 1 to 1000 Hz, not 5000"):
            link.open_stream("imu", 5000)
        with pytest.raises(LinkError, match="needs a pin"):
            link.open_stream("adc")
        with pytest.raises(LinkError, match="imu has no option 'range': it takes accel_g, gyro_dps"):
            link.open_stream("imu", range=4)
        assert link.exec("print(1)") == "1\n"


def test_a_kit_too_old_to_stream_is_told_to_update(virtual_board):
    source = (firmware_dir() / "kit" / "link.py").read_text()
    older = source.replace("op == wire.OP_STREAM_START or op == wire.OP_STREAM_STOP", "False")
    assert older != source
    with jazari.connect(virtual_board.port) as device:
        device.put(older.encode(), "/kit/link.py")
    with LinkSession.open(virtual_board.port) as link:
        with pytest.raises(JazariError, match="too old to stream.*jazari flash"):
            link.open_stream("imu")
        assert link.exec("print(5)") == "5\n"


class StreamFaults(SpoiledReads):
    """SpoiledReads, plus a byte dropped and garbage slipped in between frames;
    `spoil_writes`: the host's next writes lose their middle byte."""

    spoil_writes = 0

    def write(self, data):
        if self.spoil_writes and len(data) > 2:
            self.spoil_writes -= 1
            data = data[:len(data) // 2] + data[len(data) // 2 + 1:]
        return self.line.write(data)

    def read(self, size=1):
        action = self.spoil[0] if self.spoil else None
        if action not in ("drop", "garbage"):
            return super().read(size)
        data = self.line.read(size)
        if not data:
            return data
        self.spoil.pop(0)
        if action == "drop":
            return data[:len(data) // 2] + data[len(data) // 2 + 1:]
        at = data.find(b"\0") + 1  # right after a delimiter: the next frame gets it
        return data[:at] + b"\x07garbage\x01" + data[at:]


def test_damaged_batches_are_counted_as_lost_never_passed_on(virtual_board):
    with LinkSession.open(virtual_board.port) as link:
        stream = link.open_stream("mic")
        assert stream.info.rate_hz == 16000 and stream.info.dtype == "<i2"
        clean = stream.read(3.0)
        faults = StreamFaults(link.line)
        link.line = faults
        batches = [clean]
        for action in ("flip", "drop", "garbage", "lose", "flip", "drop", "garbage", "lose"):
            faults.spoil = [action]
            batches += [stream.read(3.0) for _ in range(3)]
        link.line = faults.line
        stream.close()
        assert link.decoder.corrupt >= 6  # every damaged frame was seen as such
    got = [b for b in batches if b is not None]
    for batch in got:  # what came through is exactly the tone, each sample at its number
        assert numpy.abs(batch.raw[:, 0] - tone(batch.index, len(batch.raw))).max() <= 1
    totals = stream.totals
    assert totals.lost > 0 and totals.dropped == 0
    assert sum(b.lost for b in got) <= totals.lost
    # Nothing unaccounted for: the sample numbers cover 0..taken with no hole.
    last = max(got, key=lambda b: b.index)
    assert totals.received + totals.lost >= last.index + len(last.raw)


def test_a_damaged_stop_is_sent_again_while_batches_keep_coming(virtual_board):
    with LinkSession.open(virtual_board.port, reply_timeout=0.5) as link:
        stream = link.open_stream("imu", 1000)
        stream.read(3.0)
        link.line = faults = StreamFaults(link.line)
        faults.spoil_writes = 1
        stream.close()  # its STOP is damaged: the board streams on until the retry
        link.line = faults.line
        assert link.retries >= 1 and link.exec("print(2)") == "2\n"
        assert link.exec("import kit.linkstream as s\nprint(len(s._streams))") == "0\n"
    assert stream.totals.lost == 0 and stream.totals.received > 0


def test_a_slow_reader_gets_the_boards_drops_reported(virtual_board):
    import time

    with LinkSession.open(virtual_board.port) as link:
        stream = link.open_stream("imu", 1000, buffer=1024)
        batches = [stream.read(3.0)]
        start, board_start = time.monotonic(), batches[0].t_us[-1]
        for _ in range(5):
            # The host looks away: the line's buffers fill (about 3 s of samples
            # here), the board's writes wait, and its small ring overflows.
            time.sleep(4.0)
            while not batches[-1].dropped:  # then reads what came, until it is back to now
                batches.append(stream.read(3.0))
                behind = time.monotonic() - start - (batches[-1].t_us[-1] - board_start) / 1e6
                if behind < 0.5:
                    break
            if batches[-1].dropped:
                break
        batches += [stream.read(3.0) for _ in range(3)]
        stream.close()
    assert stream.totals.dropped >= sum(b.dropped for b in batches) > 0
    assert stream.totals.lost == 0
    for before, after in zip(batches, batches[1:]):
        # The hole in the sample numbers is the drop the board reported, and
        # the times say so too: still one sample per millisecond of board time.
        assert after.index - (before.index + len(before.raw)) == after.dropped
        assert after.t_us[0] - before.t_us[-1] == 1000 * (after.dropped + 1)


def test_board_reset_mid_stream_is_said_and_a_new_session_works(virtual_board):
    boots = virtual_board.wait_boot()
    link = LinkSession.open(virtual_board.port, reply_timeout=0.5, retries=1)
    stream = link.open_stream("imu", 500)
    assert stream.read(3.0) is not None
    virtual_board.reset()
    set_language("fr")
    try:
        with pytest.raises(JazariError, match="a redémarré"):
            for _ in range(100):  # what was on its way still arrives first
                stream.read(1.0)
    finally:
        set_language(None)
    stream.close()
    link.close()
    virtual_board.wait_boot(after=boots)
    with LinkSession.open(virtual_board.port) as again:
        with again.open_stream("imu", 200) as stream:
            assert stream.read(3.0).index == 0
        assert again.exec("print(1 + 1)") == "2\n"


def test_cable_pulled_mid_stream_is_said_and_the_same_process_carries_on(virtual_board):
    link = LinkSession.open(virtual_board.port)
    stream = link.open_stream("imu", 500)
    assert stream.read(3.0) is not None
    virtual_board.unplug()
    with pytest.raises(JazariError, match="unplugged"):
        for _ in range(100):  # what was already on the host comes first
            stream.read(1.0)
    stream.close()
    link.close()
    virtual_board.replug()
    with LinkSession.open(virtual_board.port) as again:
        with again.open_stream("imu", 200) as stream:
            assert stream.read(3.0).index == 0


def test_a_stream_left_going_by_a_killed_host_is_stopped_by_the_next(virtual_board):
    first = LinkSession.open(virtual_board.port)
    first.open_stream("imu", 500).read(3.0)
    first.device.transport.close()  # the host dies mid-stream: no STOP, no BYE
    with LinkSession.open(virtual_board.port) as link:
        assert not link.found_in_link_mode  # the next tool's Ctrl-C ended link mode and its streams
        assert link.exec("import kit.linkstream as s\nprint(len(s._streams))") == "0\n"
        with link.open_stream("imu", 500) as stream:
            assert stream.info.stream_id == 0 and stream.read(3.0).index == 0


def test_damaged_requests_mid_stream_leave_it_running(virtual_board):
    with LinkSession.open(virtual_board.port) as link:
        with link.open_stream("imu", 200) as stream:
            stream.read(3.0)
            request = bytearray(pack(WIRE.REQUEST, 77, bytes([WIRE.OP_STREAM_STOP, 0])))
            request[4] ^= 0x10
            link.line.write(bytes(request) + b"\x05junk")  # a cut run: only a zero ends it
            link.line.write(b"\0" + pack(WIRE.REQUEST, 78, bytes([WIRE.OP_EXEC]) + b"print(3)")[:-3] + b"\0")
            batches = [stream.read(3.0) for _ in range(4)]
            assert all(b is not None for b in batches)  # never held up
            assert link.info()["link_corrupt"] >= 2
        assert stream.totals.lost == 0


# -- the host's bookkeeping, on frames made here -------------------------------------


class FakeSession:
    def __init__(self):
        self.streams = {}


def test_ticks_unwrap_and_losses_from_sample_numbers():
    info = StreamInfo(3, "count", ("n",), ("",), "<u2", (1.0,), 300.0)
    stream = Stream(FakeSession(), info)
    wrap = 1 << WIRE.WRAP_BITS
    start = wrap - 5000  # the board's ticks_us wrap 5 ms after the first sample

    def batch(first, n, drops):
        ticks = (start + first * 1_000_000 // 300) % wrap
        return struct.pack("<BIII", 3, first, ticks, drops) + struct.pack("<%dH" % n, *(k % 65536 for k in range(first, first + n)))

    got = [stream._take(batch(0, 10, 0)), stream._take(batch(10, 10, 0))]
    # samples 20..29 lost on the way (their frame never arrives); 30..34 dropped by the board
    got.append(stream._take(batch(35, 10, 5)))
    times = numpy.concatenate([b.t_us for b in got])
    numbers = numpy.concatenate([b.raw[:, 0] for b in got])
    assert numpy.array_equal(times - start, numbers.astype(numpy.int64) * 1_000_000 // 300)
    assert (got[2].lost, got[2].dropped, got[2].index) == (10, 5, 35)
    assert tuple(stream.totals) == (30, 5, 10)
    # The host looked away for 22 minutes, longer than the ticks' wrap-around;
    # the board dropped what it could not keep.
    late = stream._take(batch(400_000, 3, 5 + 400_000 - 45))
    assert late.t_us[0] - start == 400_000 * 1_000_000 // 300 and (late.dropped, late.lost) == (400_000 - 45, 0)
    assert stream._take(struct.pack("<BIII", 9, 0, 0, 0)) is None  # another stream's frame
