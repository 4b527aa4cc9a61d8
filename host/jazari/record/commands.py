"""`jazari monitor` and `jazari record`: watch a board's sensors, record labelled examples."""

from jazari.console import console
from jazari.i18n import _


def register(subparsers):
    monitor = subparsers.add_parser("monitor", help=_("plot a board's sensors live in the terminal; save them with --record or --png"))
    _source_options(monitor)
    monitor.add_argument("--seconds", type=float, help=_("stop after this many seconds (default: at Ctrl-C)"))
    monitor.add_argument("--png", metavar=_("FILE"), help=_("also draw what was received into a PNG image"))
    monitor.add_argument("--record", metavar=_("FILE"), help=_("also write what was received to a CSV file (.parquet: Parquet)"))
    monitor.set_defaults(func=do_monitor)

    record = subparsers.add_parser("record", help=_("record labelled examples into a dataset, one file each"))
    _source_options(record)
    record.add_argument("--label", required=True, help=_("what the examples show, e.g. wave"))
    record.add_argument("--seconds", type=float, default=2.0, help=_("length of each example (default: 2)"))
    record.add_argument("--count", type=int, default=1, help=_("how many examples to record (default: 1)"))
    record.add_argument("--dataset", default="dataset", metavar=_("DIR"), help=_("dataset folder (default: ./dataset)"))
    record.add_argument("--countdown", type=int, default=3, help=_("seconds of countdown before each example (default: 3)"))
    record.set_defaults(func=do_record)


def _source_options(parser):
    parser.add_argument("port", nargs="?", help=_("serial port or virtual board path (default: the one connected)"))
    parser.add_argument("--source", default="imu", help=_("sensor to stream: imu, mic, adc or button (default: imu)"))
    parser.add_argument("--rate", type=float, metavar=_("HZ"), help=_("samples per second (default: the sensor's own)"))
    parser.add_argument("--pin", type=int, help=_("with --source adc: the GPIO to read, e.g. 34"))
    parser.add_argument("--forwarder", action="store_true", help=_("read Edge Impulse data-forwarder lines from a board without the kit"))
    parser.add_argument("--names", help=_("with --forwarder: channel names separated by commas (default: ch0, ch1...)"))
    parser.add_argument("--baud", type=int, default=115200, help=_("with --forwarder: the line's baud rate (default: 115200)"))


def _check(args):
    from jazari.record.source import check_options, check_positive, check_source

    check_positive(args.seconds, "--seconds")
    check_positive(args.rate, "--rate")
    if not args.forwarder:
        check_options(check_source(args.source), _options(args))


def _options(args):
    return {"pin": args.pin} if args.pin is not None else {}


def _open_source(args, command):
    from jazari.record.source import KitSource, pick_port

    port = pick_port(args.port, command)
    if not args.forwarder:
        return KitSource(port, args.source, args.rate, _options(args))
    from jazari.record.forwarder import ForwarderSource

    names = [name.strip() for name in args.names.split(",")] if args.names else None
    source = ForwarderSource(port, args.rate, names, args.baud)
    if source.detected_rate:
        console.say(_("{port}: {channels} values per line, about {rate} lines per second (set it with --rate).").format(port=port, channels=len(source.info.channels), rate=source.info.rate_hz))
    return source


def do_monitor(args):
    from jazari.record.monitor import monitor, summary_line
    from jazari.record.writers import check_writable

    _check(args)
    for path in filter(None, (args.record, args.png)):
        check_writable(path)
    with _open_source(args, "monitor") as source:
        summary, failure = monitor(source, args.seconds, args.record, args.png)
    console.say(summary_line(summary, "forwarder" if args.forwarder else args.source))
    if failure is not None:
        raise failure
    return 0


def do_record(args):
    from jazari.record.capture import record_examples
    from jazari.record.dataset import Dataset, check_label
    from jazari.record.source import check_positive

    _check(args)
    check_positive(args.count, "--count")
    check_label(args.label)
    dataset = Dataset(args.dataset)
    with _open_source(args, "record") as source:
        entries = record_examples(source, dataset, args.label, args.seconds, args.count, max(0, args.countdown))
    flagged = sum(1 for entry in entries if entry["flagged"])
    console.say(_("{count} examples of {label} in {folder} ({flagged} flagged).").format(count=len(entries), label=args.label, folder=dataset.root, flagged=flagged))
    return 0
