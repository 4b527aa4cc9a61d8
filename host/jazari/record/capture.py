"""`jazari record`: guided capture of labelled examples into a dataset.

For each example: a countdown in the terminal, the board's LED lit while
it records (boards running the kit), exactly `seconds x rate` samples taken
(dropped or lost ones keep their place and flag the example), the file
renamed into place, then the manifest replaced. A Ctrl-C drops only the
example under way.
"""

import contextlib
import os
import time

from jazari.console import console
from jazari.errors import JazariError
from jazari.i18n import _
from jazari.record.dataset import utc_now
from jazari.record.monitor import Summary, take
from jazari.record.writers import CsvWriter


def record_examples(source, dataset, label, seconds, count, countdown=3):
    """Record `count` examples of `label` from `source` into `dataset`; their manifest entries."""
    entries = []
    for number in range(1, count + 1):
        for left in range(countdown, 0, -1):
            console.say(_("Example {number} of {count} ({label}) starts in {seconds}…").format(number=number, count=count, label=label, seconds=left))
            time.sleep(1)
        entries.append(record_one(source, dataset, label, seconds))
        _report(entries[-1])
    return entries


def record_one(source, dataset, label, seconds):
    path = dataset.next_path(label)
    partial = path.with_name(path.name + ".part")
    summary = Summary()
    cued = source.cue(True)
    try:
        console.say(_("Recording {label} for {seconds} s…").format(label=label, seconds="%g" % seconds))
        started = utc_now()
        with source.open_stream() as stream:
            info = stream.info
            with CsvWriter(partial, info.channels) as out:
                for t_us, values in take(stream, round(seconds * info.rate_hz), summary):
                    out.write(t_us, values)
            problems = stream.problems()
        os.replace(partial, path)
    except BaseException as stop:
        partial.unlink(missing_ok=True)
        if isinstance(stop, KeyboardInterrupt):
            console.warn(_("{file} was not kept; the examples before it are saved.").format(file=dataset.relative(path)))
        raise
    finally:
        if cued:
            with contextlib.suppress(JazariError):  # a board gone meanwhile: its own error is the one to say
                source.cue(False)
    for line in problems:
        console.warn(line)
    entry = {
        "file": dataset.relative(path),
        "label": label,
        "board": source.hello.get("board"),
        "board_id": source.hello.get("unique_id"),
        "port": source.port,
        "source": info.source,
        "rate_hz": info.rate_hz,
        "channels": list(info.channels),
        "units": list(info.units),
        "samples": summary.received,
        "dropped": summary.dropped,
        "lost": summary.lost,
        "flagged": bool(summary.dropped or summary.lost),
        "start_utc": started,
    }
    dataset.add(entry)
    return entry


def _report(entry):
    if entry["flagged"]:
        console.warn(
            _("{file}: {dropped} samples dropped on the board, {lost} lost on the wire; flagged in the manifest. Run again with --count 1 to redo it.").format(file=entry["file"], dropped=entry["dropped"], lost=entry["lost"])
        )
    else:
        console.say(_("Saved {file}: {samples} samples.").format(file=entry["file"], samples=entry["samples"]))
