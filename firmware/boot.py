# boot.py runs first, every time the board starts.
# It stays tiny: your program goes in student.py, which main.py runs next.
import gc

# Collect garbage early (once a quarter of the free memory has been used)
# so large buffers, such as a model's, still find room later.
gc.threshold(gc.mem_free() // 4 + gc.mem_alloc())
