"""Benchmark the wire: `jazari deploy` beside mpremote's file copy, frame decoding, telemetry.

    python tools/bench_link.py            # 20 KB and 200 KB at 115200 and 921600 baud
    python tools/bench_link.py --quick    # 20 KB only
    python tools/bench_link.py --seconds 5   # telemetry streams of 5 s instead of 60

On virtual boards with an imposed line rate (both directions paced at baud/10
bytes a second). The baseline is mpremote's own `fs_writefile`, what
`mpremote fs cp` calls, on the same board in the same run; both are timed
in-process from an open connection (no process start-up on either side).
Wire bytes count both directions. Telemetry: the IMU (6 channels) at
1 kHz and the microphone at 16 kHz streamed for `--seconds` at each rate;
the payload share is the samples' bytes over every byte on the line while the
stream ran. Prints tables; asserts nothing.
"""

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

from jazari.link.deploy import deploy, plan
from jazari.link.frames import WIRE, FrameDecoder, pack
from jazari.link.session import LinkSession
from jazari.sim.board import VirtualBoard

# int8 models of the TFLM conformance set, beside the repository
MODELS = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "tflm"


class CountingLine:
    """A serial port that counts what crosses it."""

    def __init__(self, line):
        self.line = line
        self.bytes = 0

    def read(self, size=1):
        data = self.line.read(size)
        self.bytes += len(data)
        return data

    def write(self, data):
        self.bytes += len(data)
        return self.line.write(data)

    def __getattr__(self, name):
        return getattr(self.line, name)


def bench_deploy(board, local):
    with LinkSession.open(board.port) as link:
        link.line = counter = CountingLine(link.line)
        start = time.perf_counter()
        report = deploy(link, plan([str(local)]))
        seconds = time.perf_counter() - start
        assert report.copied, "the file was already there"
        link.remove("/" + local.name)
    return seconds, counter.bytes


def bench_mpremote(board, local):
    import jazari

    data = local.read_bytes()
    with jazari.connect(board.port) as device:
        transport = device.transport
        transport.serial = counter = CountingLine(transport.serial)
        start = time.perf_counter()
        transport.fs_writefile("/" + local.name, data)  # chunk_size 256, as `mpremote fs cp`
        seconds = time.perf_counter() - start
        transport.serial = counter.line
        assert hashlib.sha256(bytes(transport.fs_readfile("/" + local.name))).digest() == hashlib.sha256(data).digest()
        device.exec("import os\nos.remove(%r)" % ("/" + local.name))
    return seconds, counter.bytes


def decode_speed(payload_kind, megabytes=20, repeats=5):
    """MB/s of FrameDecoder on 4 KB reads; the best of `repeats` runs (the
    machine may be shared: the best run is the one least disturbed)."""
    if payload_kind == "random":
        payload = os.urandom(WIRE.MAX_PAYLOAD)
    else:  # int16 samples near zero: many 0x00 bytes, COBS's worst case
        payload = bytes(i % 3 for i in range(WIRE.MAX_PAYLOAD))
    stream = b"".join(pack(WIRE.STREAM_BATCH, seq, payload) for seq in range(256))
    rounds = max(1, megabytes * 1_000_000 // len(stream) // repeats)
    best = float("inf")
    for _ in range(repeats):
        decoder = FrameDecoder()
        start = time.perf_counter()
        for _ in range(rounds):
            for at in range(0, len(stream), 4096):  # reads of 4 KB, as from a busy port
                decoder.feed(stream[at:at + 4096])
        best = min(best, time.perf_counter() - start)
        assert decoder.corrupt == 0 and decoder.frames == rounds * 256
    return rounds * len(stream) / best / 1e6


def bench_stream(board, source, rate, seconds):
    """(samples received, dropped, lost, payload share of wire bytes) of one stream."""
    with LinkSession.open(board.port) as link:
        link.line = counter = CountingLine(link.line)
        stream = link.open_stream(source, rate)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            stream.read(1.0)
        stream.close()
        link.line = counter.line
    received, dropped, lost = stream.totals
    return received, dropped, lost, received * stream.info.sample_size / counter.bytes


def telemetry_rows(folder, seconds):
    rows = []
    for baud in (115_200, 921_600):
        with VirtualBoard("esp32", baud=baud, workdir=folder) as board:
            for source, rate in (("imu", 1000), ("mic", 16000)):
                rows.append((baud, source, rate, *bench_stream(board, source, rate, seconds)))
                print(".", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print(f"{'baud':>7} {'stream':>12} {'seconds':>8} {'received':>9} {'dropped':>8} {'lost':>5} {'payload/wire':>13}")
    for baud, source, rate, received, dropped, lost, share in rows:
        print(f"{baud:>7} {f'{source} {rate} Hz':>12} {seconds:>8} {received:>9} {dropped:>8} {lost:>5} {share:>13.3f}")


def sample_files(folder, sizes):
    """(kind, path) pairs: int8 models where the conformance set has them
    (what students deploy), and random bytes (mpremote's best case: a third of
    random bytes are printable, one character each in its repr)."""
    files = []
    for size in sizes:
        random_file = Path(folder, f"random{size}.bin")
        random_file.write_bytes(os.urandom(size))
        files.append(("random", random_file))
        for model in sorted(MODELS.glob("*.tflite")):
            data = model.read_bytes()
            if len(data) >= size:
                model_file = Path(folder, f"model{size}.tflite")
                model_file.write_bytes(data[:size])
                files.append((model.stem, model_file))
                break
    return files


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 KB only")
    parser.add_argument("--seconds", type=float, default=60, help="length of each telemetry stream (default 60)")
    args = parser.parse_args()
    sizes = [20_000] if args.quick else [20_000, 200_000]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        files = sample_files(folder, sizes)
        for baud in (115_200, 921_600):
            with VirtualBoard("esp32s3", baud=baud, workdir=folder) as board:
                for kind, local in files:
                    size = local.stat().st_size
                    ours, our_bytes = bench_deploy(board, local)
                    theirs, their_bytes = bench_mpremote(board, local)
                    rows.append((baud, size, kind, ours, theirs, our_bytes / size, their_bytes / size))
                    print(".", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print(f"{'baud':>7} {'file':>7} {'data':>16} {'deploy s':>9} {'mpremote s':>11} {'speed-up':>9} {'wire/B deploy':>14} {'wire/B mpremote':>16}")
    for baud, size, kind, ours, theirs, our_ratio, their_ratio in rows:
        print(f"{baud:>7} {size // 1000:>5}KB {kind:>16} {ours:>9.2f} {theirs:>11.2f} {theirs / ours:>8.1f}x {our_ratio:>14.3f} {their_ratio:>16.3f}")
    for kind in ("random", "samples"):
        print(f"host frame decoding, {kind} payloads: {decode_speed(kind):.0f} MB/s")
    with tempfile.TemporaryDirectory() as folder:
        telemetry_rows(folder, args.seconds)


if __name__ == "__main__":
    main()
