# main.py runs after boot.py. It starts your program:
#   student.py  if you have written one (it wins), or else
#   lesson.py   the starter code a lesson put on the board.
# If your program stops with an error, you see one short message and the
# board waits at the >>> prompt, ready for the next try. Hold BOOT while
# the board starts to run none of them (a safe boot).

PROGRAMS = ("student.py", "lesson.py")


def _where(error, name):
    # The last line of `name` the error went through: where to look first.
    import io
    import sys

    trace = io.StringIO()
    sys.print_exception(error, trace)
    line = None
    for text in trace.getvalue().split("\n"):
        if '"%s", line ' % name in text:
            line = text.split(", line ")[1].split(",")[0]
    return "%s line %s" % (name, line) if line else name


def run(name):
    try:
        with open(name) as f:
            source = f.read()
    except OSError:
        return False  # no such program
    try:
        # Run in the REPL's own namespace: its variables stay there to inspect.
        exec(compile(source, name, "exec"), globals())
    except KeyboardInterrupt:
        print("%s stopped (Ctrl-C)." % name)
    except Exception as error:
        detail = str(error)
        print("%s: %s%s" % (_where(error, name), type(error).__name__, ": " + detail if detail else ""))
    return True


def _safe_boot():
    # BOOT (GPIO0) held at start: the kit's boot.py stops before this file
    # runs; checked again in case boot.py is not the kit's.
    from machine import Pin

    return not Pin(0, Pin.IN, Pin.PULL_UP).value()


if _safe_boot():
    print("Safe boot (BOOT held): student.py and lesson.py not run.")
else:
    for _name in PROGRAMS:
        if run(_name):
            break
