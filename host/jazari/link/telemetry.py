"""Telemetry streams from a board in link mode (docs/protocol.md, "Telemetry").

    with LinkSession.open(port) as link:
        with link.open_stream("imu", 1000) as stream:
            stream.info.channels              # ('ax', 'ay', 'az', 'gx', 'gy', 'gz')
            for batch in stream:
                batch.t_us, batch.values      # board times (us), values in units
                batch.dropped, batch.lost     # samples missing before this batch
            stream.totals                     # Totals(received, dropped, lost)

Every sample the board took is accounted for: received, dropped by the board
(its buffer was full: the host read too slowly) or lost on the way (a damaged
or missing frame, found from the running sample number in each batch).
"""

import collections
import json
import struct
from dataclasses import dataclass
from typing import NamedTuple

import numpy

from jazari.errors import JazariError
from jazari.i18n import _
from jazari.link.frames import WIRE, Frame
from jazari.link.session import LinkError

STALL_TIMEOUT = 3.0  # seconds without a batch before iterating says the board stopped sending
_BATCH = struct.Struct("<BIII")  # stream id, first sample's number, its ticks_us, drops so far
_STOPPED = struct.Struct("<II")  # OP_STREAM_STOP's reply: samples taken, dropped
_WRAP = 1 << WIRE.WRAP_BITS
_US = 1_000_000


@dataclass(frozen=True)
class StreamInfo:
    """What a stream declared once: its samples' channels, units and packing."""

    stream_id: int
    source: str
    channels: tuple
    units: tuple
    dtype: str  # NumPy code of one packed value, e.g. ">i2"
    scales: tuple  # value in units = raw * scale, per channel
    rate_hz: float

    @classmethod
    def from_declaration(cls, payload):
        declared = json.loads(bytes(payload[1:]).decode("utf-8"))
        return cls(
            stream_id=payload[0], source=declared["source"], channels=tuple(declared["channels"]),
            units=tuple(declared["units"]), dtype=declared["dtype"], scales=tuple(declared["scales"]),
            rate_hz=float(declared["rate"]),
        )

    @property
    def sample_size(self):
        """Bytes of one packed sample (all channels)."""
        return numpy.dtype(self.dtype).itemsize * len(self.channels)


@dataclass
class Batch:
    """Consecutive samples of a stream, with what went missing just before them."""

    info: StreamInfo
    t_us: numpy.ndarray  # int64, one board time per sample (ticks_us, unwrapped)
    values: numpy.ndarray  # float32, (n, channels), in units
    raw: numpy.ndarray  # the packed integers, (n, channels)
    dropped: int  # samples the board dropped since the previous batch (its buffer was full)
    lost: int  # samples that never arrived since the previous batch (damaged or lost frames)
    index: int = 0  # the first sample's number in the stream (0 for the first sample taken)


class Totals(NamedTuple):
    received: int
    dropped: int
    lost: int


class Stream:
    """One telemetry stream: an iterator of Batch, and a context manager."""

    def __init__(self, session, info):
        self.session = session
        self.info = info
        self.closed = False
        self._pending = collections.deque()  # this stream's frames met by another stream's read
        self._scales = numpy.asarray(info.scales, dtype=numpy.float32)
        self._next = 0  # the number of the next sample expected
        self._drops_seen = 0  # the board's running drop count, as last seen (wrapped)
        self._ticks = None  # (unwrapped ticks_us, number) of the last batch's first sample
        self._received = self._dropped = self._lost = 0

    @classmethod
    def start(cls, session, source, rate_hz=None, options=None):
        args = struct.pack("<I", round(rate_hz or 0)) + source.encode()
        if options:
            args += b"\0" + json.dumps(options).encode()
        try:
            declaration = session.request(WIRE.OP_STREAM_START, args)
        except LinkError as refused:
            if refused.code != WIRE.E_UNKNOWN:
                raise
            raise JazariError(
                _("The kit on the board on {port} is too old to stream: update it with 'jazari flash'.").format(port=session.device.port)
            ) from None
        stream = cls(session, StreamInfo.from_declaration(declaration))
        session.streams[stream.info.stream_id] = stream
        return stream

    @property
    def totals(self):
        return Totals(self._received, self._dropped, self._lost)

    def problems(self):
        """What the user must hear about the stream once it ended, translated: nothing, for a kit's
        stream (its counts are in every batch); a forwarder's stream says what its lines lost."""
        return []

    def read(self, timeout=None):
        """The next Batch, or None if none came within `timeout` seconds.

        JazariError if the board restarted (the session is then over)."""
        timeout = STALL_TIMEOUT if timeout is None else timeout
        while not self.closed:
            frame = self._pending.popleft() if self._pending else self.session.next_frame(WIRE.STREAM_BATCH, timeout)
            if frame is None:
                return None
            batch = self._take(frame.payload)
            if batch is not None:
                return batch
        return None

    def __iter__(self):
        return self

    def __next__(self):
        if self.closed:
            raise StopIteration
        batch = self.read(STALL_TIMEOUT)
        if batch is None:
            raise JazariError(
                _("The board on {port} stopped sending {source} samples. Run the command again.").format(
                    port=self.session.device.port, source=self.info.source
                )
            )
        return batch

    def _take(self, payload):
        # The Batch in a STREAM_BATCH payload, or None if it belongs elsewhere.
        stream_id, first, ticks, drops = _BATCH.unpack_from(payload)
        if stream_id != self.info.stream_id:
            other = self.session.streams.get(stream_id)
            if other is not None:
                other._pending.append(Frame(WIRE.STREAM_BATCH, 0, payload))
            return None  # else a stream stopped earlier: nobody wants it
        gap = (first - self._next) % _WRAP
        if gap >= _WRAP // 2:
            return None  # behind what was already received: a repeat
        dropped = (drops - self._drops_seen) % _WRAP
        lost = max(gap - dropped, 0)
        index = self._next + gap
        raw = numpy.frombuffer(payload, dtype=self.info.dtype, offset=_BATCH.size)
        raw = raw.reshape(-1, len(self.info.channels))
        n = len(raw)
        self._next = index + n
        self._drops_seen = drops
        self._received += n
        self._dropped += dropped
        self._lost += lost
        return Batch(self.info, self._times(index, n, ticks), raw.astype(numpy.float32) * self._scales, raw, dropped, lost, index)

    def _times(self, index, n, ticks):
        # Sample k was taken at t0 + floor(k * 1e6 / rate). The first sample's
        # ticks_us is unwrapped to the value nearest to where the previous
        # batch and the sample numbers put it, so even a gap longer than the
        # ticks' wrap-around (18 minutes) keeps the times right.
        rate = round(self.info.rate_hz)
        unwrapped = ticks
        if self._ticks is not None:
            before, before_index = self._ticks
            expected = before + index * _US // rate - before_index * _US // rate
            unwrapped = expected + (ticks - expected + _WRAP // 2) % _WRAP - _WRAP // 2
        self._ticks = (unwrapped, index)
        numbers = numpy.arange(index, index + n, dtype=numpy.int64)
        return unwrapped + numbers * _US // rate - index * _US // rate

    def close(self):
        """Stop sampling on the board; the session stays usable for requests.

        The samples still on their way are counted in `totals`, not returned."""
        if self.closed:
            return
        self.closed = True
        self.session.streams.pop(self.info.stream_id, None)
        if not self.session.linked:
            return  # the board restarted or left: nothing samples any more
        try:
            reply = self.session.request(WIRE.OP_STREAM_STOP, bytes([self.info.stream_id]))
        except JazariError:
            return
        inbox = self.session.inbox[WIRE.STREAM_BATCH]
        for frame in [*self._pending, *[f for f in inbox if f.payload[0] == self.info.stream_id]]:
            self._take(frame.payload)  # what came before the reply
        self._pending.clear()
        remaining = [f for f in inbox if f.payload[0] != self.info.stream_id]
        inbox.clear()
        inbox.extend(remaining)
        taken, drops = _STOPPED.unpack(reply)
        gap = (taken - self._next) % _WRAP
        if gap < _WRAP // 2:  # the samples after the last batch received
            dropped = (drops - self._drops_seen) % _WRAP
            self._dropped += dropped
            self._lost += max(gap - dropped, 0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

