"""Property tests of the host's frame code (jazari.link.frames): whatever the
bytes and however the line cuts them, what is encoded comes back unchanged."""

from hypothesis import example, given, settings
from hypothesis import strategies as st

from jazari.link.frames import WIRE, Frame, FrameDecoder, cobs_decode, cobs_encode, pack

# Bytes that exercise every COBS case: zero-dense (sensor samples near zero),
# long zero-free runs (254 and past it: the 0xFF code), 0xFF as data.
_BYTE_MIXES = st.sampled_from([b"\0", b"\x01", b"\xff", b"\0\xff", b"\x01\x02\x03"])
_ANY_BYTES = st.one_of(
    st.binary(max_size=1200),
    st.tuples(_BYTE_MIXES, st.integers(0, 600)).map(lambda mix: mix[0] * mix[1]),
    st.lists(st.one_of(st.binary(max_size=300), st.integers(250, 260).map(lambda n: b"\x07" * n)), max_size=6).map(b"".join),
)
_PAYLOADS = st.one_of(st.binary(max_size=WIRE.MAX_PAYLOAD), _ANY_BYTES.map(lambda data: data[: WIRE.MAX_PAYLOAD]))


@given(_ANY_BYTES)
def test_cobs_decode_inverts_encode(data):
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert cobs_decode(encoded) == data


@settings(max_examples=40, deadline=None)
@given(_PAYLOADS)
@example(b"\x01" * 250)  # its encoding ends in an empty block's code byte
def test_a_frame_cut_short_is_dropped_and_counted(payload):
    # COBS alone cannot always tell (a 0xFF block's closing code is implied);
    # the length field and the CRC do. A cut that takes only a final code
    # byte carrying no data (an empty last block) loses nothing: that frame
    # comes back whole, never altered.
    encoded = pack(WIRE.REPLY, 3, payload)[:-1]
    for cut in range(len(encoded)):
        decoder = FrameDecoder()
        got = decoder.feed(encoded[:cut] + b"\0")
        if got:
            assert cut == len(encoded) - 1 and encoded[-1] == 1
            assert got == [Frame(WIRE.REPLY, 3, payload)] and decoder.corrupt == 0
        else:
            assert decoder.corrupt == (1 if cut else 0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([WIRE.STREAM_BATCH, WIRE.REPLY, WIRE.LOG]), st.integers(0, 255), _PAYLOADS), min_size=1, max_size=3))
def test_frames_come_back_whatever_the_cut(frames):
    stream = b"".join(pack(*frame) for frame in frames)
    expected = [Frame(*frame) for frame in frames]
    for cut in range(len(stream) + 1):  # every byte boundary, in two reads
        decoder = FrameDecoder()
        assert decoder.feed(stream[:cut]) + decoder.feed(stream[cut:]) == expected
        assert decoder.corrupt == 0 and decoder.pending == b""


@settings(max_examples=30, deadline=None)
@given(_PAYLOADS, st.integers(1, 64))
def test_frames_come_back_read_in_small_pieces(payload, piece):
    stream = pack(WIRE.STREAM_BATCH, 7, payload) * 3
    decoder = FrameDecoder()
    received = []
    for at in range(0, len(stream), piece):
        received += decoder.feed(stream[at:at + piece])
    assert received == [Frame(WIRE.STREAM_BATCH, 7, payload)] * 3
