"""Code and model runs for kit.link: OP_EXEC and OP_RUN_MODEL (docs/protocol.md).

Loaded by the first of them and forgotten with the link, like kit.linkfs.
"""

import kit.link as link
import kit.wire as wire

_names = None  # exec namespace, kept across EXEC requests like the REPL's
_model = None  # (path, kit.Model) of the last OP_RUN_MODEL: loading is the slow part


def operate(op, args):
    if op == wire.OP_EXEC:
        return _exec(link.text(args))
    return _run_model(args)


def _exec(code):
    global _names
    import io

    out = io.StringIO()
    if _names is None:
        _names = {}
    _names["print"] = lambda *a, **k: print(*a, file=out, **k)
    exec(code, _names)
    return link.put(out.getvalue().encode()[:wire.MAX_PAYLOAD])


def _run_model(args):
    # path, 0x00, the input's raw bytes -> latency (us, u32), the outputs' bytes.
    global _model
    path, _, data = bytes(args).partition(b"\0")
    path = link.text(path)
    if _model is None or _model[0] != path:
        import kit

        _model = None  # the old one's memory first
        _model = (path, kit.Model(path))
    outputs = _model[1].invoke(data)
    if isinstance(outputs, tuple):
        outputs = b"".join(outputs)
    link.put_u32(_model[1].last_us)
    return 4 + link.put(outputs, 4)
