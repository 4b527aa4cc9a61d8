# boot.py runs first, every time the board starts.
# It stays tiny: your program goes in student.py, which main.py runs next.
import gc
from machine import Pin

# Safe boot: BOOT (GPIO0, pulled up, low while pressed) held while the board
# starts. An error here makes MicroPython skip main.py, so a program that
# resets, hangs or fills the memory at boot cannot keep the board from its
# REPL; then `jazari recover PORT` sets that program aside.
if not Pin(0, Pin.IN, Pin.PULL_UP).value():
    raise KeyboardInterrupt("safe boot (BOOT held): main.py not run")

# Collect garbage early (once a quarter of the free memory has been used)
# so large buffers, such as a model's, still find room later.
gc.threshold(gc.mem_free() // 4 + gc.mem_alloc())
