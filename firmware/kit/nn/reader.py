# read_model(src): subgraph 0 of a .tflite file as Tensor and Operator objects.
# Constant data is not read: a tensor records where its bytes are (`data_at`,
# `data_len` in the file) and weights.py decides how to reach them.
from micropython import const
from . import schema as S
import gc
from .flatbuffer import Table, root
from .tensors import Tensor, Operator, ModelInfo

# Field slots (0-based field index) of the tables read, per table of
# tensorflow/lite/schema/schema.fbs.
# Model
_MODEL_OPERATOR_CODES = const(1)
_MODEL_SUBGRAPHS = const(2)
_MODEL_BUFFERS = const(4)
# OperatorCode
_OPCODE_DEPRECATED_BUILTIN = const(0)  # int8, codes below 127
_OPCODE_BUILTIN = const(3)  # int32, every code
# SubGraph
_SUBGRAPH_TENSORS = const(0)
_SUBGRAPH_INPUTS = const(1)
_SUBGRAPH_OUTPUTS = const(2)
_SUBGRAPH_OPERATORS = const(3)
# Tensor
_TENSOR_SHAPE = const(0)
_TENSOR_TYPE = const(1)
_TENSOR_BUFFER = const(2)
_TENSOR_NAME = const(3)
_TENSOR_QUANTIZATION = const(4)
_TENSOR_IS_VARIABLE = const(5)
_TENSOR_SPARSITY = const(6)
# QuantizationParameters
_QUANT_SCALE = const(2)
_QUANT_ZERO_POINT = const(3)
_QUANT_DIMENSION = const(6)
# Operator
_OP_OPCODE_INDEX = const(0)
_OP_INPUTS = const(1)
_OP_OUTPUTS = const(2)
_OP_OPTIONS_TYPE = const(3)
_OP_OPTIONS = const(4)
# The builtin_options union's type each op's options must carry (schema.fbs
# BuiltinOptions): tflite-micro reads options of any other type as none.
# Two byte strings, op code and its options type at the same place (bytes
# stay in flash with the module on ROMFS; a dict would take heap).
_OPTION_CODES = b"\x03\x04\x01\x11\x09\x19\x02\x00\x12\x28\x29\x2d\x53\x62\x2b"
_OPTION_TYPES = b"\x01\x02\x05\x05\x08\x09\x0a\x0b\x15\x1b\x1c\x20\x3b\x4b\x1e"
# Buffer
_BUFFER_DATA = const(0)
_BUFFER_OFFSET = const(1)  # uint64: data stored after the flatbuffer (files > 2 GB)

# Caps on counts that only a hostile file would exceed (they keep a corrupt
# file from filling the heap with objects before we notice).
_MAX_TENSORS = const(4096)
_MAX_OPS = const(4096)
_MAX_RANK = const(8)
_MAX_OP_IO = const(256)
_MAX_CHANNELS = const(65536)
_MAX_ELEMENTS = const(0x7FFFFFFF)


def _check_elements(shape, index):
    n = 1
    for d in shape:
        if d < 0:
            raise ValueError("tensor %d has a dynamic shape %s: the engine needs fixed shapes" % (index, shape))
        n *= d
        if n > _MAX_ELEMENTS:
            raise ValueError("model file is corrupt: tensor %d has too many elements" % index)
    return n


def _read_quant(t, q):
    scales = q.vector(_QUANT_SCALE, 4, _MAX_CHANNELS)
    if not scales or not scales[1]:
        return
    src = q.src
    start, n = scales
    zv = q.vector(_QUANT_ZERO_POINT, 8, _MAX_CHANNELS)
    if not zv or not zv[1]:
        return  # tflite-micro reads scales only beside zero points: otherwise unquantized
    # tflite-micro takes the first zero point whatever their count (and
    # refuses what that one makes wrong); per channel, only as many as scales.
    zat = zv[0]
    t.scale = src.unpack("<f", start)[0]
    z = src.unpack("<q", zat)[0]
    if not -0x80000000 <= z <= 0x7FFFFFFF:
        raise ValueError("model file is corrupt: tensor %d has zero point %d" % (t.index, z))
    if z:
        t.zero_point = z
    d = q.int32(_QUANT_DIMENSION)
    if d:
        t.quantized_dimension = d
    if n > 1:
        t._channels = (src, start, zat if zv[1] == n else -1, n)


def _read_tensor(tt, index, buffers, src):
    shape = tt.ints(_TENSOR_SHAPE, "i", _MAX_RANK)
    shape = tuple(shape) if shape else ()
    type = tt.int8(_TENSOR_TYPE)
    elements = _check_elements(shape, index)
    t = Tensor(index, shape, type, elements * S.TYPE_SIZES.get(type, 1))
    if tt.uint8(_TENSOR_IS_VARIABLE):
        t.is_variable = True
    if tt.table(_TENSOR_SPARSITY) is not None:
        raise ValueError("tensor %d is sparse: the engine needs dense tensors" % index)
    q = tt.table(_TENSOR_QUANTIZATION)
    if q is not None:
        _read_quant(t, q)
    b = tt.uint32(_TENSOR_BUFFER)
    if b:
        start, count = buffers
        if b >= count:
            raise ValueError("model file is corrupt: tensor %d uses buffer %d of %d" % (index, b, count))
        at = start + 4 * b
        buf = Table(src, at + src.unpack("<I", at)[0])
        at, n = buf.data(_BUFFER_DATA)
        if n == 0:
            n = buf.scalar(2, "<Q", 8, 0)
            at = buf.scalar(_BUFFER_OFFSET, "<Q", 8, 0) if n else 0
            if n and at + n > src.size:
                raise ValueError("model file is truncated or corrupt: buffer %d at byte %d points outside the file" % (b, at))
        if n:
            if n < t.size:
                raise ValueError("model file is corrupt: tensor %d holds %d bytes, its shape needs %d" % (index, n, t.size))
            t.data_at = at
            t.data_len = n
    return t


def _options(ot, code):
    k = _OPTION_CODES.find(bytes((code,))) if 0 <= code < 256 else -1
    return ot.table(_OP_OPTIONS) if k >= 0 and ot.uint8(_OP_OPTIONS_TYPE) == _OPTION_TYPES[k] else None


def _tensor_list(indices, tensors, what):
    out = []
    for i in indices or ():
        if i == -1:
            out.append(None)  # an omitted optional input (tflite-micro's kTfLiteOptionalTensor)
        elif not 0 <= i < len(tensors):
            raise ValueError("model file is corrupt: %s refers to tensor %d of %d" % (what, i, len(tensors)))
        else:
            out.append(tensors[i])
    return out


def _op_codes(model):
    codes = []
    for oc in model.tables(_MODEL_OPERATOR_CODES, _MAX_OPS):
        # Newer files put codes >= 127 in builtin_code and keep the deprecated
        # byte at 127; older ones only have the byte. TFLM takes the larger.
        codes.append(max(oc.int8(_OPCODE_DEPRECATED_BUILTIN), oc.int32(_OPCODE_BUILTIN)))
    return codes


def declared_codes(src):
    # The builtin codes in the model's operator_codes, nothing else read.
    return _op_codes(root(src))


def read_model(src, lean=False):
    """The model's tensors and operators. `lean`: constant tensors keep only
    where their bytes are (see lean()); tensor_at() reads one in full."""
    try:
        return _read(src, lean)
    except MemoryError:
        raise ValueError("model file is too big to read in this much memory (or corrupt)")


def lean(t):
    # A constant tensor as eval reaches it (ctx.buffer, ctx.weights): where
    # its bytes are, without shape, scales or per-channel quantization.
    slim = Tensor(t.index, (), t.type, t.size)
    slim.data_at = t.data_at
    slim.data_len = t.data_len
    return slim


def _subgraph(src):
    # (model table, subgraph 0 table)
    model = root(src)
    for g in model.tables(_MODEL_SUBGRAPHS, 64):
        return model, g
    raise ValueError("model file has no subgraph")


def tensor_at(src, index):
    # Tensor `index` in full, read again from the file.
    model, g = _subgraph(src)
    buffers = model.vector(_MODEL_BUFFERS, 4, _MAX_TENSORS) or (0, 0)
    for i, tt in enumerate(g.tables(_SUBGRAPH_TENSORS, _MAX_TENSORS)):
        if i == index:
            return _read_tensor(tt, i, buffers, src)


class Graph:
    """Subgraph 0 read one operator at a time, for a file that read_model()
    has already checked whole: the interpreter's second pass, which must not
    hold every tensor's object beside the arena."""

    def __init__(self, src):
        model, g = _subgraph(src)
        self.src = src
        self.g = g
        self.codes = _op_codes(model)
        self.buffers = model.vector(_MODEL_BUFFERS, 4, _MAX_TENSORS) or (0, 0)
        self.count = g.count(_SUBGRAPH_OPERATORS, _MAX_OPS)
        self.inputs = g.ints(_SUBGRAPH_INPUTS, "i", _MAX_OP_IO) or ()
        self.outputs = g.ints(_SUBGRAPH_OUTPUTS, "i", _MAX_OP_IO) or ()

    def tensor(self, i):
        tt = self.g.item(_SUBGRAPH_TENSORS, i, _MAX_TENSORS)
        t = _read_tensor(tt, i, self.buffers, self.src)
        if i in self.inputs or i in self.outputs:
            t.name = tt.string(_TENSOR_NAME)
        return t

    def operator(self, i):
        ot = self.g.item(_SUBGRAPH_OPERATORS, i, _MAX_OPS)
        ins = tuple(self.tensor(k) if k >= 0 else None for k in ot.ints(_OP_INPUTS, "i", _MAX_OP_IO) or ())
        outs = tuple(self.tensor(k) for k in ot.ints(_OP_OUTPUTS, "i", _MAX_OP_IO) or ())
        code = self.codes[ot.uint32(_OP_OPCODE_INDEX)]
        return Operator(i, code, ins, outs, _options(ot, code))


def _read(src, lean_consts):
    model, g = _subgraph(src)
    codes = _op_codes(model)
    buffers = model.vector(_MODEL_BUFFERS, 4, _MAX_TENSORS) or (0, 0)
    tensors = []
    for i, tt in enumerate(g.tables(_SUBGRAPH_TENSORS, _MAX_TENSORS)):
        t = _read_tensor(tt, i, buffers, src)
        tensors.append(lean(t) if lean_consts and t.is_const else t)
        if i & 3 == 3:
            gc.collect()  # keeps what stays packed low in the heap
    ops = []
    for i, ot in enumerate(g.tables(_SUBGRAPH_OPERATORS, _MAX_OPS)):
        k = ot.uint32(_OP_OPCODE_INDEX)
        if k >= len(codes):
            raise ValueError("model file is corrupt: operator %d uses opcode %d of %d" % (i, k, len(codes)))
        ins = _tensor_list(ot.ints(_OP_INPUTS, "i", _MAX_OP_IO), tensors, "operator %d" % i)
        outs = _tensor_list(ot.ints(_OP_OUTPUTS, "i", _MAX_OP_IO), tensors, "operator %d" % i)
        if None in outs:
            raise ValueError("model file is corrupt: operator %d has an omitted output" % i)
        ops.append(Operator(i, codes[k], tuple(ins), tuple(outs), _options(ot, codes[k])))
        if i & 3 == 3:
            gc.collect()
    inputs = _tensor_list(g.ints(_SUBGRAPH_INPUTS, "i", _MAX_OP_IO), tensors, "the model's inputs")
    outputs = _tensor_list(g.ints(_SUBGRAPH_OUTPUTS, "i", _MAX_OP_IO), tensors, "the model's outputs")
    if None in inputs or None in outputs:
        raise ValueError("model file is corrupt: an input or output refers to no tensor")
    tables = g.tables(_SUBGRAPH_TENSORS, _MAX_TENSORS)
    named = [t.index for t in inputs + outputs]
    for i, tt in enumerate(tables):
        if i in named:
            tensors[i].name = tt.string(_TENSOR_NAME)
    return ModelInfo(tensors, ops, inputs, outputs)
