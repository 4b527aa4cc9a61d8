"""Can the kit's engine run this model? Checked on the computer, before any board.

The list of ops the engine runs is read from the engine itself (the registry
`firmware/kit/nn/ops/__init__.py`, parsed as text: host code never imports
firmware), so the host and the board can never disagree about it.
"""

import ast
from functools import lru_cache

from jazari.errors import JazariError
from jazari.i18n import _
from jazari.nn.tflite import FLOAT_TYPES
from jazari.paths import firmware_dir

# Activation types the engine computes in; float32 may only enter through
# QUANTIZE and leave through DEQUANTIZE (as the engine's interpreter checks).
_ENGINE_TYPES = frozenset({"int8", "int32"})
_HOW_TO_CONVERT = "docs/models.md"


def _assigned(tree, variable):
    """The value assigned to `variable` at the top of a module's syntax tree."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == variable for t in node.targets):
            return node.value
    raise LookupError(variable)


@lru_cache(maxsize=1)
def _registry():
    """({op name: engine module}, aliasing op names) from
    `OPS = {S.NAME: ("module", "prepare", "eval"), ...}` and `ALIASING = (S.NAME, ...)`."""
    tree = ast.parse(registry_path().read_text(encoding="utf-8"))
    table = _assigned(tree, "OPS")
    modules = {key.attr: value.elts[0].value for key, value in zip(table.keys, table.values)}
    aliasing = tuple(item.attr for item in _assigned(tree, "ALIASING").elts)
    return modules, aliasing


def registry_path():
    return firmware_dir() / "kit" / "nn" / "ops" / "__init__.py"


@lru_cache(maxsize=1)
def loader_modules():
    """The engine's modules only loading needs, let go once a model is ready: `_LOADERS` in
    firmware/kit/nn/loader.py, read from its source so the host and the board never disagree."""
    tree = ast.parse((firmware_dir() / "kit" / "nn" / "loader.py").read_text(encoding="utf-8"))
    return tuple(item.value for item in _assigned(tree, "_LOADERS").elts)


def engine_registry():
    """(names of the ops the engine runs, names of the ops whose output shares its input's bytes)."""
    modules, aliasing = _registry()
    return tuple(modules), aliasing


def op_modules():
    """{op name: the module under kit/nn/ops/ that runs it}."""
    return dict(_registry()[0])


def supported_ops():
    return tuple(sorted(engine_registry()[0]))


def _type_problem(model_name, op, tensor, float_ok):
    """The translated message for a tensor the engine cannot compute with, or None."""
    if tensor.dtype in _ENGINE_TYPES or (tensor.dtype == "float32" and float_ok):
        return None
    where = {"model": model_name, "index": op.index, "op": op.name, "dtype": tensor.dtype, "doc": _HOW_TO_CONVERT}
    if tensor.dtype in FLOAT_TYPES:
        return _(
            "{model} is a float model (operator {index}, {op}, computes in {dtype}). The kit runs int8 models: "
            "convert it with full-integer quantization, see {doc}."
        ).format(**where)
    if tensor.dtype == "int16":
        return _(
            "{model} uses int16 activations (16x8 quantization) at operator {index}, {op}. The kit runs int8 models: "
            "convert it with TFLITE_BUILTINS_INT8, see {doc}."
        ).format(**where)
    return _(
        "{model} uses {dtype} tensors at operator {index}, {op}; the kit's engine computes in int8: "
        "convert the model to int8, see {doc}."
    ).format(**where)


def type_problem(model, model_name):
    """The first float, int16 or other non-int8 tensor a supported operator uses, as a message (or None).

    Ops the engine lacks are left to `op_problem`: their tensor types (an
    LSTM's int16 cell state, say) say nothing about how the model was converted.
    """
    supported = supported_ops()
    for op in model.operators:
        if op.name not in supported:
            continue
        for tensor in model.op_inputs(op):
            if tensor is not None:
                problem = _type_problem(model_name, op, tensor, float_ok=op.name == "QUANTIZE")
                if problem:
                    return problem
        for tensor in model.op_outputs(op):
            problem = _type_problem(model_name, op, tensor, float_ok=op.name == "DEQUANTIZE")
            if problem:
                return problem
    return None


def op_problem(model, model_name):
    """The first operator the engine does not run, as a message naming it (or None)."""
    supported = supported_ops()
    for op in model.operators:
        if op.name not in supported:
            return _(
                "{model} uses {op} at operator {index}, which the kit's engine does not run. Supported ops: {ops}."
            ).format(model=model_name, op=op.name, index=op.index, ops=", ".join(supported))
    return None


def problems(model, model_name):
    """Every reason the engine would refuse the model, most fundamental first."""
    # The number format first: converting to int8 usually changes the ops too.
    from jazari.nn.limits import flow_problem, io_problem, quant_problem

    found = [type_problem(model, model_name), op_problem(model, model_name),
             quant_problem(model, model_name, supported_ops()), io_problem(model, model_name),
             flow_problem(model, model_name)]
    return [problem for problem in found if problem]


def check_model(model, model_name):
    """Raise one translated JazariError if the engine cannot run `model`."""
    found = problems(model, model_name)
    if found:
        raise JazariError(found[0])


def check_memory(model_name, needed, free):
    """Raise if `needed` bytes of RAM certainly do not fit in `free` bytes."""
    if needed > free:
        raise JazariError(
            _("{model} needs {needed} bytes of RAM for its tensors; this board has {free} bytes free. "
              "Use a smaller model or a board with more memory (ESP32-S3 with PSRAM).").format(
                model=model_name, needed=needed, free=free)
        )
