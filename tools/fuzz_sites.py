"""Where a .tflite file's schema fields are, and mutations of them (tools/fuzz_models.py).

schema_sites() walks the flatbuffer as tensorflow/lite/schema/schema.fbs
lays it out (field slots below) and lists (kind, byte position, width) of
the fields a hostile file would change; mutate() writes a value chosen for
that kind (or changes bytes anywhere).
"""

import math
import struct

# Field slots of schema.fbs's tables.
MODEL_OPCODES, MODEL_SUBGRAPHS, MODEL_BUFFERS = 1, 2, 4
OPCODE_DEPRECATED, OPCODE_BUILTIN = 0, 3
GRAPH_TENSORS, GRAPH_INPUTS, GRAPH_OUTPUTS, GRAPH_OPERATORS = 0, 1, 2, 3
TENSOR_SHAPE, TENSOR_TYPE, TENSOR_BUFFER, TENSOR_QUANT = 0, 1, 2, 4
QUANT_SCALE, QUANT_ZERO_POINT, QUANT_DIMENSION = 2, 3, 6
OP_OPCODE, OP_INPUTS, OP_OUTPUTS, OP_OPTIONS = 0, 1, 2, 4
BUFFER_DATA, BUFFER_OFFSET, BUFFER_SIZE = 0, 1, 2

HOSTILE_INTS = (0, 1, -1, 2, 3, 7, 64, 255, 256, 65535, 65536, 2**31 - 1, -(2**31), 2**30)
HOSTILE_FLOATS = (0.0, -0.0, math.nan, math.inf, -math.inf, -1.0, 1e-45, 1e-30, 1e30, 3.4e38, 1.0, 0.5)
HOSTILE_WORDS = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFC, 0x10000, 4, 8)


class _Walker:
    def __init__(self, data):
        self.data = data
        self.sites = []  # (kind, position, width, owner)
        self.owner = "model"  # "tensor <i>" or "operator <i>" while walking one

    def u32(self, at):
        return struct.unpack_from("<I", self.data, at)[0] if 0 <= at <= len(self.data) - 4 else None

    def field(self, table, slot):
        """Byte position of a table's field, or None when absent."""
        vtable = table - struct.unpack_from("<i", self.data, table)[0]
        size = struct.unpack_from("<H", self.data, vtable)[0]
        if 4 + 2 * slot + 2 > size:
            return None
        offset = struct.unpack_from("<H", self.data, vtable + 4 + 2 * slot)[0]
        return table + offset if offset else None

    def ref(self, table, slot):
        at = self.field(table, slot)
        return None if at is None else at + self.u32(at)

    def vector(self, table, slot, kind=None, width=4):
        """(start, length) of a vector field; each element is a site of `kind` when given."""
        at = self.ref(table, slot)
        if at is None:
            return None, 0
        length = self.u32(at)
        self.sites.append(("length", at, 4, self.owner))
        if kind:
            self.sites.extend((kind, at + 4 + width * i, width, self.owner) for i in range(min(length, 64)))
        return at + 4, length

    def tables(self, table, slot):
        start, length = self.vector(table, slot)
        return [start + 4 * i + self.u32(start + 4 * i) for i in range(min(length, 4096))] if start else []

    def scalar(self, table, slot, kind, width):
        at = self.field(table, slot)
        if at is not None:
            self.sites.append((kind, at, width, self.owner))

    def options(self, table):
        """Every field present in an operator's builtin options, one byte each (enums, flags, numbers)."""
        vtable = table - struct.unpack_from("<i", self.data, table)[0]
        size = struct.unpack_from("<H", self.data, vtable)[0]
        for slot in range((size - 4) // 2):
            at = self.field(table, slot)
            if at is not None:
                self.sites.append(("option", at, 4 if at + 4 <= len(self.data) else 1,
                                   "%s option %d" % (self.owner, slot)))


def schema_sites(data):
    """[(kind, position, width)] of the fields of subgraph 0 and the model's tables."""
    return [site[:3] for site in labelled_sites(data)]


def labelled_sites(data):
    """schema_sites() with the owner of each: "model", "tensor <i>" or "operator <i>"."""
    walk = _Walker(data)
    model = walk.u32(0)
    for opcode in walk.tables(model, MODEL_OPCODES):
        walk.scalar(opcode, OPCODE_DEPRECATED, "opcode", 1)
        walk.scalar(opcode, OPCODE_BUILTIN, "opcode", 4)
    for buffer in walk.tables(model, MODEL_BUFFERS):
        walk.vector(buffer, BUFFER_DATA)
        walk.scalar(buffer, BUFFER_OFFSET, "offset", 8)
        walk.scalar(buffer, BUFFER_SIZE, "offset", 8)
    for graph in walk.tables(model, MODEL_SUBGRAPHS)[:1]:
        walk.vector(graph, GRAPH_INPUTS, "tensor")
        walk.vector(graph, GRAPH_OUTPUTS, "tensor")
        for index, tensor in enumerate(walk.tables(graph, GRAPH_TENSORS)):
            walk.owner = "tensor %d" % index
            walk.vector(tensor, TENSOR_SHAPE, "shape")
            walk.scalar(tensor, TENSOR_TYPE, "type", 1)
            walk.scalar(tensor, TENSOR_BUFFER, "buffer", 4)
            quant = walk.ref(tensor, TENSOR_QUANT)
            if quant is not None:
                walk.vector(quant, QUANT_SCALE, "scale")
                walk.vector(quant, QUANT_ZERO_POINT, "zero_point", 8)
                walk.scalar(quant, QUANT_DIMENSION, "shape", 4)
        for index, op in enumerate(walk.tables(graph, GRAPH_OPERATORS)):
            walk.owner = "operator %d" % index
            walk.scalar(op, OP_OPCODE, "index", 4)
            walk.vector(op, OP_INPUTS, "tensor")
            walk.vector(op, OP_OUTPUTS, "tensor")
            options = walk.ref(op, OP_OPTIONS)
            if options is not None:
                walk.options(options)
    return [site for site in walk.sites if site[1] + site[2] <= len(data)]


def _value(kind, width, rng):
    if kind == "scale":
        return struct.pack("<f", rng.choice(HOSTILE_FLOATS))
    if kind == "zero_point":
        return struct.pack("<q", rng.choice((-129, 128, -128, 127, 2**40, -1, 1000)))
    if kind == "type":
        return bytes([rng.choice((0, 1, 2, 3, 4, 7, 9, 10, 16, 17, 200))])
    if kind == "option":
        return bytes([rng.choice((0, 1, 2, 3, 5, 6, 255, 128))]) if width == 1 or rng.random() < 0.5 else \
            struct.pack("<i", rng.choice(HOSTILE_INTS))
    if kind == "offset":
        return struct.pack("<Q", rng.choice((0, 1, 2**32, 2**63, 8, 2**20)))
    if kind == "length":
        return struct.pack("<I", rng.choice((0, 1, 2, 0x3FFFFFFF, 0xFFFFFFFF, 65)))
    if kind == "opcode":
        return struct.pack("<i", rng.choice((0, 3, 4, 9, 17, 22, 25, 32, 127, 200, -1)))[:width]
    return struct.pack("<i", rng.choice(HOSTILE_INTS + (rng.randrange(0, 64),)))[:width]


def _bytes(data, rng):
    """A change anywhere in the file: a bit, a hostile word, the file cut, 16 bytes zeroed."""
    kind = rng.choice(("flip", "word", "truncate", "zero"))
    at = rng.randrange(len(data))
    if kind == "truncate":
        del data[at:]
    elif kind == "flip":
        data[at] ^= 1 << rng.randrange(8)
    elif kind == "word":
        at &= ~3
        data[at:at + 4] = struct.pack("<I", rng.choice(HOSTILE_WORDS))[:len(data) - at]
    else:
        data[at:at + 16] = bytes(len(data[at:at + 16]))


def mutate(data, rng, sites=None):
    """`data` with one to three changes, two thirds of them through the schema."""
    sites = sites if sites is not None else schema_sites(data)
    mutant = bytearray(data)
    for _change in range(rng.choice((1, 1, 1, 2, 3))):
        if sites and rng.random() < 2 / 3:
            kind, at, width = rng.choice(sites)
            mutant[at:at + width] = _value(kind, width, rng)[:width].ljust(width, b"\0")
        elif mutant:
            _bytes(mutant, rng)
    return bytes(mutant)
