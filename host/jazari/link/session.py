"""Link mode: the binary protocol with a board, over the REPL's line.

    with LinkSession.open(port) as link:
        link.hello["unique_id"], link.hello["free_heap"]
        link.exec("print(1 + 1)")            # '2\\n'
        link.file_hash("/main.py")            # (size, sha256) or None

`open` finds the board in whichever mode it was left: at a REPL (it enters
the raw REPL and starts `kit.link.serve()`), or still in link mode (it
answers a PING). `close` sends BYE and leaves the board at the raw REPL of
its `Device`, which is then closed too. docs/protocol.md has the details.
"""

import collections
import contextlib
import json
import struct
import time

import serial
from mpremote.transport import TransportError

from jazari.errors import JazariError
from jazari.i18n import _
from jazari.link.device import READ_TIMEOUT, RESET_TIMEOUT, BoardError, Device, not_answering, port_gone
from jazari.link.frames import WIRE, FrameDecoder, pack
from jazari.link.keepalive import Keepalive
from jazari.link.refusals import refusal

REPLY_TIMEOUT = 2.0  # seconds: a reply lost this long is asked for again
RETRIES = 3
REPL_TIMEOUT = 2.0  # seconds a board at a REPL needs to show the raw REPL
ENTER_TIMEOUT = 5.0  # seconds for `import kit.link` and the HELLO frame
LINE_POLL = 0.02  # seconds a read waits on the line, so timeouts stay short
RESYNC = b"\0" * 255  # ends any frame the board was in the middle of
BREAK = RESYNC + bytes([WIRE.BREAK] * 3)
ENOSPC = 28
_U32 = struct.Struct("<I")
_SERVE = "import kit.link\nkit.link.serve()"
_AT_A_REPL = b">>> "
# What a board prints when it restarts: the ROM's reset line, a soft reboot, the prompt.
_RESTARTED = (b"rst:0x", b"soft reboot", _AT_A_REPL)
# Frames the board sends on its own: kept for their readers while a request waits.
ROUTED = (WIRE.STREAM_DECLARE, WIRE.STREAM_BATCH, WIRE.LOG, WIRE.EVENT)
_ANSWERS = (WIRE.REPLY, WIRE.ERROR, WIRE.STREAM_DECLARE)  # STREAM_DECLARE answers OP_STREAM_START
INBOX_FRAMES = 4096  # per kind; a stream's batches beyond it show up as lost samples


class LinkError(JazariError):
    """The board answered a request (about board path `path`, if any) with an ERROR frame."""

    def __init__(self, code, errno, text, path=None):
        self.code, self.errno, self.text, self.path = code, errno, text, path
        super().__init__(refusal(code, errno, text, path))


class LinkSession:
    """A board in link mode: handshake, requests with retries, goodbye."""

    def __init__(self, device, reply_timeout=REPLY_TIMEOUT, retries=RETRIES):
        self.device = device
        self.line = device.transport.serial
        self.reply_timeout = reply_timeout
        self.max_retries = retries
        self.decoder = FrameDecoder()
        self.hello = {}
        self.retries = 0  # requests sent again after a lost or damaged reply
        self.found_in_link_mode = False  # True when an earlier run had left it there
        self.keepalive = Keepalive(self.line, f"keepalive {device.port}")  # and the lock every write takes
        self._seq = 0
        self._frames = collections.deque()
        self.inbox = {kind: collections.deque(maxlen=INBOX_FRAMES) for kind in ROUTED}
        self.streams = {}  # stream id -> open jazari.link.telemetry.Stream
        self._open_path = None  # the board file open for writing, named in a write's errors

    @property
    def linked(self):
        """Whether the board is in link mode with us."""
        return self.keepalive.linked

    # -- entering and leaving ----------------------------------------------

    @classmethod
    def open(cls, port, **options):
        device = Device.attach(port)
        link = cls(device, **options)
        try:
            link._start()
        except BaseException:
            link._let_go()
            raise
        return link

    def _start(self):
        self.line.timeout = LINE_POLL
        try:
            self.device.enter_raw_repl(REPL_TIMEOUT)
        except JazariError:
            # Not at a REPL: maybe still in link mode from an earlier run.
            version = self._ping()
            if version is None:
                raise not_answering(self.device.port) from None
            self.found_in_link_mode = True
            if version != WIRE.VERSION:
                self._break()
                raise JazariError(self._version_message(version)) from None
            self._handshake()
            self._stop_streams()
            return
        self._enter()

    def _enter(self):
        """From the raw REPL: start serve() and read its HELLO."""
        try:
            self.device.transport.exec_raw_no_follow(_SERVE)
        except TransportError:
            raise not_answering(self.device.port) from None
        frame = self._wait(lambda f: f.type == WIRE.HELLO, ENTER_TIMEOUT, repl_end=True)
        if frame is None:
            raise self._why_not_started()
        self._accept_hello(frame.payload)

    def _why_not_started(self):
        text = self.decoder.take_pending().decode("utf-8", "replace")
        if "kit" in text and "ImportError" in text:
            return JazariError(
                _("The board on {port} has no Jazari kit (or one too old for the link). Install it with 'jazari flash'.").format(port=self.device.port)
            )
        if text.endswith("\x04>"):  # serve() failed: the raw REPL shows why
            return BoardError(text.rstrip("\x04>").split("\x04")[-1])
        return not_answering(self.device.port)

    def _ping(self):
        """The board's protocol version if it is in link mode, else None."""
        seq = self._next_seq()
        self._send(RESYNC + pack(WIRE.PING, seq))
        frame = self._wait(lambda f: f.type == WIRE.PONG and f.seq == seq, self.reply_timeout)
        return frame.payload[0] if frame else None

    def _handshake(self):
        seq = self._next_seq()
        self._send(b"\0" + pack(WIRE.HELLO, seq))
        frame = self._wait(lambda f: f.type == WIRE.HELLO and f.seq == seq, self.reply_timeout)
        if frame is None:
            raise not_answering(self.device.port)
        self._accept_hello(frame.payload)

    def _stop_streams(self):
        """Stop the streams an earlier run left going (a kit without streams has none)."""
        try:
            self.request(WIRE.OP_STREAM_STOP, bytes([WIRE.ALL_STREAMS]))
        except LinkError:
            pass
        self.inbox[WIRE.STREAM_BATCH].clear()

    def _accept_hello(self, payload):
        version = payload[0]
        if version != WIRE.VERSION:
            self._break()
            raise JazariError(self._version_message(version))
        self.hello = json.loads(payload[1:].decode("utf-8"))
        self.keepalive.link()
        self.decoder.corrupt = 0  # what the REPL printed before is not a lost frame

    def _version_message(self, version):
        if version < WIRE.VERSION:
            return _("The kit on the board speaks link protocol {board}, this jazari speaks {host}: update the board with 'jazari flash'.").format(board=version, host=WIRE.VERSION)
        return _("The kit on the board speaks link protocol {board}, newer than this jazari ({host}): update jazari with 'pip install -U jazari'.").format(board=version, host=WIRE.VERSION)

    def _break(self):
        """Leave link mode with the break sequence (it never changes meaning)."""
        self._send(BREAK)
        self._back_to_repl()

    def _back_to_repl(self):
        self.keepalive.unlink()  # a keepalive after this would reach the REPL as a key
        self._repl_timeout()
        self.device.transport.in_raw_repl = False
        self.device.enter_raw_repl(REPL_TIMEOUT)

    def close(self):
        """Say BYE, come back to the raw REPL and close the port (the board stops its streams)."""
        for stream in list(self.streams.values()):
            stream.closed = True
        self.streams.clear()
        try:
            if self.linked:
                seq = self._next_seq()
                self._send(b"\0" + pack(WIRE.BYE, seq))
                self._wait(lambda f: f.type == WIRE.BYE and f.seq == seq, self.reply_timeout)
                self._back_to_repl()
        except (JazariError, OSError, serial.SerialException):
            pass  # the board is gone or reset: nothing to say goodbye to
        finally:
            self._let_go()

    def _let_go(self):
        """Give the line back its REPL timeout and close the port, dead or not."""
        self.keepalive.stop()  # waits for a keepalive being written: none is written on a closed port
        self._repl_timeout()
        self.device.close()

    def _repl_timeout(self):
        # A dead line (the cable pulled, or a USB port that vanishes while its
        # chip resets) refuses even this; what comes next says why.
        with contextlib.suppress(OSError, serial.SerialException):
            self.line.timeout = READ_TIMEOUT

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- frames ------------------------------------------------------------

    def _send(self, data):
        try:
            with self.keepalive.writing:
                self.line.write(data)
        except (OSError, serial.SerialException):
            raise self._line_lost() from None

    def _line_lost(self):
        """The error for a line that failed under us: "unplugged" in one line
        when the port has vanished (the dead line is then closed), else "does
        not answer". Either way the board is no longer in link mode with us."""
        self.keepalive.unlink()
        return self.device.line_lost()

    def _next_seq(self):
        self._seq = (self._seq + 1) & 0xFF
        return self._seq

    def _wait(self, wanted, timeout, repl_end=False):
        """The first frame `wanted` accepts within `timeout` s, or None.

        Frames the board sends on its own (ROUTED) go to their inbox for
        their readers; others are dropped. With `repl_end`, also stop when
        the raw REPL says the code has ended.
        """
        deadline = time.monotonic() + timeout
        polled = False  # the line is read at least once: a zero timeout takes what has come
        while True:
            while self._frames:
                frame = self._frames.popleft()
                if wanted(frame):
                    return frame
                if frame.type in self.inbox:
                    self.inbox[frame.type].append(frame)
            if repl_end and self.decoder.pending.endswith(b"\x04>"):
                return None
            if polled and time.monotonic() >= deadline:
                return None
            polled = True
            try:
                data = self.line.read(max(1, self.line.in_waiting))
            except (OSError, serial.SerialException):
                raise self._line_lost() from None
            if data:
                self._frames.extend(self.decoder.feed(data))

    def next_frame(self, kind, timeout):
        """The next frame of a ROUTED `kind` within `timeout` s, or None.

        Raises JazariError when the board is seen restarting (reset, crash):
        the session is over, and a new one can start at once.
        """
        if self.inbox[kind]:
            return self.inbox[kind].popleft()
        frame = self._wait(lambda f: f.type == kind, timeout)
        if frame is not None:
            return frame
        if any(mark in self.decoder.pending for mark in _RESTARTED):
            self.keepalive.unlink()
            raise JazariError(
                _("The board on {port} restarted (reset, crash or power): it left link mode. Run the command again.").format(port=self.device.port)
            )
        return None

    def open_stream(self, source, rate_hz=None, **options):
        """Start sampling `source` on the board: a jazari.link.telemetry.Stream."""
        from jazari.link.telemetry import Stream

        return Stream.start(self, source, rate_hz, options)

    def request(self, op, args=b"", path=None):
        """Run one operation (on board path `path`, named in errors) on the board;
        its reply's payload (bytes).

        A lost or damaged request or reply is sent again with the same
        sequence number: the board answers it from its last reply, so
        nothing runs twice. An ERROR reply raises LinkError.
        """
        seq = self._next_seq()
        frame = pack(WIRE.REQUEST, seq, bytes([op]) + bytes(args))
        answered = lambda f: f.seq == seq and f.type in _ANSWERS  # noqa: E731
        reply = None
        for attempt in range(self.max_retries + 1):
            # A retry goes only to a board still in link mode (it answers a
            # PING): one that has reset would take a data frame's bytes as
            # keys at its REPL, Ctrl-D (soft reset) among them.
            if _AT_A_REPL in self.decoder.pending:
                break  # it printed its prompt: it has reset
            if attempt == 0 or self._ping() is not None:
                self._send(b"\0" + frame)
                reply = self._wait(answered, self.reply_timeout)
            if reply is not None:
                break
            self.retries += 1
        if reply is None:
            self.keepalive.unlink()
            if port_gone(self.device.port):
                raise self._line_lost()
            raise JazariError(
                _("The board on {port} stopped answering (reset or unplugged?). Run the command again: it carries on where it stopped.").format(port=self.device.port)
            )
        if reply.type == WIRE.ERROR:
            raise LinkError(reply.payload[0], reply.payload[1], reply.payload[2:].decode("utf-8", "replace"), path)
        return reply.payload

    # -- operations --------------------------------------------------------

    def info(self):
        return json.loads(self.request(WIRE.OP_INFO))

    def exec(self, code):
        """Run Python on the board; what it printed (at most one frame of it)."""
        return self.request(WIRE.OP_EXEC, code.encode()).decode("utf-8", "replace")

    def file_hash(self, path):
        """(size, SHA-256 digest) of a file on the board, or None if absent."""
        reply = self.request(WIRE.OP_HASH, path.encode(), path)
        (size,) = _U32.unpack_from(reply)
        return None if size == 0xFFFFFFFF else (size, reply[4:])

    def open_file(self, path, append=False):
        """Open `path` for writing (appending keeps what is there); its size."""
        size = _U32.unpack(self.request(WIRE.OP_OPEN, bytes([append]) + path.encode(), path))[0]
        self._open_path = path
        return size

    def write(self, offset, data):
        """Write `data` at `offset` of the open file; the file's new size."""
        return _U32.unpack(self.request(WIRE.OP_WRITE, _U32.pack(offset) + bytes(data), self._open_path))[0]

    def close_file(self):
        self.request(WIRE.OP_CLOSE, b"", self._open_path)

    def rename(self, old, new):
        self.request(WIRE.OP_RENAME, f"{old}\0{new}".encode(), old)

    def remove(self, path):
        self.request(WIRE.OP_REMOVE, path.encode(), path)

    def mkdir(self, path):
        self.request(WIRE.OP_MKDIR, path.encode(), path)

    def read(self, path):
        """The bytes of a file on the board."""
        data = bytearray()
        while True:
            chunk = self.request(WIRE.OP_READ, struct.pack("<IH", len(data), WIRE.CHUNK) + path.encode(), path)
            data += chunk
            if len(chunk) < WIRE.CHUNK:
                return bytes(data)

    def run_model(self, path, data):
        """Run the model file `path` on the board on one input's raw bytes.

        Returns (the outputs' raw bytes, on-board latency in microseconds).
        The board keeps the model loaded for the next run on the same path.
        """
        reply = self.request(WIRE.OP_RUN_MODEL, path.encode() + b"\0" + bytes(data), path)
        return reply[4:], _U32.unpack_from(reply)[0]

    def reset(self, hard=False):
        """Reset the board from link mode (soft: like Ctrl-D; hard: the chip).

        The board answers, then restarts at its REPL: this session is over,
        and its Device is back at the raw REPL when this returns.
        """
        self.request(WIRE.OP_RESET, bytes([hard]))
        self.keepalive.unlink()
        self._repl_timeout()
        deadline = time.monotonic() + RESET_TIMEOUT
        while True:
            time.sleep(0.2)
            try:
                self.device.enter_raw_repl(REPL_TIMEOUT)
                return
            except JazariError:
                if time.monotonic() > deadline:
                    raise

    def free(self, path="/"):
        """(free bytes, total bytes) of the filesystem holding `path`. LittleFS can count more
        blocks in use than it has (after a write that filled it): a negative count, which an
        older kit sends as a huge unsigned one, means none."""
        reply = self.request(WIRE.OP_FREE, path.encode(), path)
        free, total = _U32.unpack_from(reply)[0], _U32.unpack_from(reply, 4)[0]
        return (free if free <= total else 0), total
