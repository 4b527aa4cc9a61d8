"""`jazari model info|run|verify`: look inside a model, run it on a board, check it.

Each handler parses, calls jazari.nn's library code and prints through the
console; failures arrive as one translated JazariError.
"""

import io
import secrets
import shutil

from jazari.console import console
from jazari.errors import JazariError
from jazari.i18n import _

DEFAULT_SAMPLES = 10
TABLE_WIDTH = 140  # when the output is not a terminal (a file, a pipe, a test)


def register(subparsers):
    model = subparsers.add_parser("model", help=_("look inside a .tflite model, run it on a board, check it against tflite-micro"))
    model.set_defaults(func=lambda args: _help(model))
    commands = model.add_subparsers(dest="model_command", metavar=_("COMMAND"))

    info = commands.add_parser("info", help=_("inputs, outputs, ops, parameters, MACs, arena, fit and speed per board"))
    info.add_argument("model", help=_("a .tflite file"))
    info.add_argument("--layers", action="store_true", help=_("also list every operator with its output and MACs"))
    info.set_defaults(func=do_model_info)

    run = commands.add_parser("run", help=_("run samples from .npy files through the model on a board's engine"))
    run.add_argument("model", help=_("a .tflite file"))
    run.add_argument("--input", action="append", required=True, metavar="X.npy",
                     help=_("samples for one model input: [samples, *input shape] in its type (once per input)"))
    run.add_argument("--output", action="append", required=True, metavar="Y.npy",
                     help=_("where to write one model output, [samples, *output shape] (once per output)"))
    run.add_argument("--port", help=_("the board's serial port (default: start a virtual board for the run)"))
    run.set_defaults(func=do_model_run)

    verify = commands.add_parser("verify", help=_("compare the board's engine with tflite-micro on random inputs"))
    verify.add_argument("model", help=_("a .tflite file"))
    verify.add_argument("--port", help=_("the board's serial port (default: start a virtual board for the run)"))
    verify.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help=_("how many random inputs (default: 10)"))
    verify.add_argument("--seed", type=int, help=_("seed of the random inputs, to repeat a run"))
    verify.set_defaults(func=do_model_verify)


def _help(parser):
    parser.print_help()
    return 2


# -- printing ----------------------------------------------------------------------


def _print_table(table):
    """Render a rich table as plain text and print it through the console."""
    from rich.console import Console

    stream = console.stream("out")
    width = shutil.get_terminal_size((TABLE_WIDTH, 24)).columns if stream.isatty() else TABLE_WIDTH
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None).print(table)
    console.say(buffer.getvalue().rstrip("\n"))


def _table(*columns, title=None):
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    return table


def _kb(size):
    """Bytes as KB (MB from 1 MB), with a decimal only where it says something."""
    if size >= 1024 * 1024:
        return _("{mb:g} MB").format(mb=round(size / 1024 / 1024, 1))
    kb = size / 1024
    return _("{kb} KB").format(kb=f"{kb:.1f}" if kb < 10 else f"{kb:,.0f}")


def _count(value):
    return f"{value:,}"


def _tensor_rows(table, kind, tensors):
    for position, tensor in enumerate(tensors):
        per_channel = _("per channel") if tensor.per_channel else f"{tensor.scale:.6g}"
        table.add_row(kind, str(position), tensor.name, str(list(tensor.shape)), tensor.dtype, per_channel,
                      str(tensor.zero_point))


def _print_tensors(model):
    table = _table(_("tensor"), "#", _("name"), _("shape"), _("type"), _("scale"), _("zero point"))
    _tensor_rows(table, _("input"), model.input_tensors())
    _tensor_rows(table, _("output"), model.output_tensors())
    _print_table(table)


def _print_ops(summary):
    macs = {}
    for _index, name, op_macs, _elements in summary.op_costs:
        macs[name] = macs.get(name, 0) + op_macs
    table = _table(_("op"), _("count"), _("MACs"))
    for name, count in summary.op_counts:
        table.add_row(name, str(count), _count(macs[name]))
    table.add_row(_("total"), str(len(summary.op_costs)), _count(summary.macs))
    _print_table(table)


def _print_layers(summary):
    model = summary.model
    table = _table("#", _("op"), _("output"), _("MACs"))
    for index, name, macs, _elements in summary.op_costs:
        output = model.op_outputs(model.operators[index])[0]
        table.add_row(str(index), name, f"{output.dtype} {list(output.shape)}", _count(macs))
    _print_table(table)


def _fit_text(fit, refused):
    if refused:  # the engine cannot run the model at all: the reason follows the table
        return _("no: see below")
    if fit.fits_flash and fit.fits_ram:
        return _("yes")
    if not fit.fits_flash:
        return _("no: flash")
    return _("with ROMFS") if fit.ram_needed_romfs <= fit.profile.free_heap else _("no: RAM")


def _print_boards(summary):
    table = _table(_("board"), _("file / flash space"), _("weights"), _("RAM needed / free"), _("fits"),
                   _("RAM with ROMFS"), _("latency (estimated)"))
    for fit in summary.fits:
        profile = fit.profile
        weights = _("in RAM") if fit.weights_in_ram else _("streamed from flash")
        table.add_row(
            profile.title,
            f"{_kb(summary.model.size)} / {_kb(profile.file_space)}",
            weights,
            f"{_kb(fit.ram_needed)} / {_kb(profile.free_heap)}",
            _fit_text(fit, bool(summary.problems)),
            _kb(fit.ram_needed_romfs),
            _("{ms:,.0f} ms").format(ms=fit.latency_ms) if fit.latency_ms >= 1 else _("under 1 ms"),
        )
    _print_table(table)
    if not all(fit.weights_in_ram for fit in summary.fits):
        console.say(_("Streamed weights are read from the file layer by layer (files over 64 KB, or four times "
                      "larger than the free RAM); on firmware with ROMFS (/rom) they are read in place from "
                      "memory-mapped flash, with no RAM cost."))
    console.say(_("Latencies are estimates from the MAC count and each board's estimated speed; "
                  "measure yours with m.last_us on the board."))


# -- commands ----------------------------------------------------------------------


def do_model_info(args):
    from pathlib import Path

    from jazari.nn.inspect import summarize
    from jazari.nn.tflite import load_model

    model = load_model(args.model)
    summary = summarize(model, Path(args.model).name)
    console.say(_("{model}: {size} bytes, SHA-256 {sha}").format(
        model=summary.name, size=_count(model.size), sha=model.sha256[:16]))
    _print_tensors(model)
    _print_ops(summary)
    if args.layers:
        _print_layers(summary)
    console.say(_("parameters: {parameters}   MACs: {macs}   planned arena: {arena} bytes ({kb})").format(
        parameters=_count(summary.parameters), macs=_count(summary.macs), arena=_count(summary.arena),
        kb=_kb(summary.arena)))
    if summary.arena_streamed != summary.arena:
        console.say(_("planned arena with weights streamed from the file: {arena} bytes ({kb})").format(
            arena=_count(summary.arena_streamed), kb=_kb(summary.arena_streamed)))
    _print_boards(summary)
    for problem in summary.problems:
        console.warn(problem)
    return 0


def _say_virtual_board(profile):
    console.say(_("No --port given: starting a virtual {board} board for this run.").format(board=profile.title))


def do_model_run(args):
    from jazari.nn import run

    opened = run.open_model(args.model)
    model, _data, name = opened
    arrays = run.load_samples(model, name, args.input)
    paths = run.output_paths(model, name, args.output)
    outputs = run.run_model(opened, arrays, args.port, on_start=_say_virtual_board)
    run.save_outputs(outputs, paths)
    console.say(_("Ran {samples} samples of {model} on the board's engine; wrote {files}.").format(
        samples=len(arrays[0]), model=name, files=", ".join(str(path) for path in paths)))
    return 0


def do_model_verify(args):
    from pathlib import Path

    from jazari.nn import run

    if args.samples < 1:
        raise JazariError(_("--samples must be at least 1."))
    run.open_model(args.model)  # a model refused is refused before any run is announced
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    console.say(_("Random inputs: {samples} samples, seed {seed} (repeat with --seed {seed}).").format(
        samples=args.samples, seed=seed))
    _inputs, got, _expected, differences = run.verify_model(
        args.model, args.samples, seed, args.port, on_start=_say_virtual_board)
    table = _table(_("output"), _("shape"), _("largest difference"))
    for index, (array, difference) in enumerate(zip(got, differences)):
        table.add_row(str(index), f"{array.dtype} {list(array.shape[1:])}", str(difference))
    _print_table(table)
    name = Path(args.model).name
    worst = max(range(len(differences)), key=lambda index: differences[index])
    if differences[worst]:
        raise JazariError(
            _("The board's engine and tflite-micro differ on {model}: output {index} is off by up to {difference}.").format(
                model=name, index=worst, difference=differences[worst])
        )
    console.say(_("The board's engine gives exactly tflite-micro's outputs on {model}.").format(model=name))
    return 0
