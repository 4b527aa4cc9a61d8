# The model's tensors and operators as the loader reads them (reader.py) and
# the ops' prepare sees them. Kept apart from the reader so that, once a
# model is loaded, the reader and flatbuffer modules can be let go: what
# eval still holds (the model's inputs and outputs, a streamed model's
# constants) are instances of these classes.
from collections import namedtuple
from . import schema as S


class Tensor:
    # Defaults live on the class, so each instance only stores what differs
    # (a few hundred bytes each on a 110 KB heap matter).
    name = ""  # kept for the model's inputs and outputs only
    scale = 0.0
    zero_point = 0
    quantized_dimension = 0
    is_variable = False
    data_at = 0  # constant bytes: start in the model file, and length
    data_len = 0
    _channels = None  # per-channel quantization: (source, scales at, zero points at or -1, count)

    def __init__(self, index, shape, type, size):
        self.index = index
        self.shape = shape
        self.type = type
        self.size = size  # bytes

    @property
    def is_const(self):
        return self.data_len > 0

    @property
    def scales(self):
        # Per-channel scales as a list-like read from the file, else None.
        c = self._channels
        if not c:
            return None
        from .flatbuffer import Numbers
        return Numbers(c[0], c[1], c[3])

    @property
    def zero_points(self):
        c = self._channels
        if not c:
            return None
        if c[2] < 0:
            return (self.zero_point,) * c[3]
        from .flatbuffer import Int64s
        return Int64s(c[0], c[2], c[3])

    def __repr__(self):
        return "<Tensor %d %s %s %s>" % (self.index, self.name, S.TYPE_NAMES.get(self.type, self.type), self.shape)


class Operator:
    options = None  # the builtin-options Table, when the op has one

    def __init__(self, index, code, inputs, outputs, options):
        self.index = index
        self.code = code
        self.inputs = inputs  # tuples of Tensor (None for an omitted input)
        self.outputs = outputs
        if options is not None:
            self.options = options


class ModelInfo:
    def __init__(self, tensors, operators, inputs, outputs):
        self.tensors = tensors
        self.operators = operators
        self.inputs = inputs
        self.outputs = outputs


# An operator as eval sees it, with what runs it: one tuple per operator (a
# namedtuple costs a tuple's bytes; an object with these as attributes,
# twice as many). `index` and `code` name it in errors; `inputs` and
# `outputs` are its tensors as the loader left them (loader.py's _ref);
# `run(ctx, step, data)` is its eval and `data` what its prepare returned;
# `scratch` its scratch bytes (a memoryview into the arena) or None;
# `reload`: what kept.OnFlash must read back before it runs, or None.
Step = namedtuple("Step", ("index", "code", "inputs", "outputs", "run", "data", "scratch", "reload"))
