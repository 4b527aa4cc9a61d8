"""Watching and recording sensor streams: `jazari monitor` and `jazari record`.

    source.py     which board, and a stream from it (the kit's link, or Edge
                  Impulse's data-forwarder lines from a board without the kit)
    forwarder.py  the data-forwarder line format: parser and serial stream
    trace.py      what was received: the recent window, and all of it (thinned)
    live.py       the live terminal view: a braille plot and counters per channel
    chart.py      a still plot rasterized into pixels; png.py writes them
    writers.py    CSV (flushed after every batch) and Parquet files
    dataset.py    labelled examples on disk: DIR/<label>/<label>.<n>.csv, manifest
    monitor.py    the monitor loop; capture.py the guided capture of examples
"""
