"""The board's user button (BOOT on most boards).

    from kit import button
    button.pressed()       # is it held down right now?
    button.was_pressed()   # was it pressed since the last call? (then forgets)

Buttons on these boards pull the pin to ground, so the pin reads 0 while held.
"""

import machine

_pin = None
_flag = False


def _on_press(pin):
    # Runs as an interrupt: only set a flag, allocate nothing.
    global _flag
    _flag = True


def _setup():
    global _pin
    from kit.board import CONFIG, profile

    p = profile()
    if p["button_pin"] is None:
        raise ValueError("board %s has no user button: set button_pin in %s" % (p["name"], CONFIG))
    _pin = machine.Pin(p["button_pin"], machine.Pin.IN, machine.Pin.PULL_UP)
    _pin.irq(trigger=machine.Pin.IRQ_FALLING, handler=_on_press)


def pressed():
    if _pin is None:
        _setup()
    return _pin.value() == 0


def was_pressed():
    global _flag
    if _pin is None:
        _setup()
    if _flag:
        _flag = False
        return True
    return False
