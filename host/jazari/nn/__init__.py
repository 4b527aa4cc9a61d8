"""Models on the computer: read .tflite files, say what they cost and where
they fit, check the board's engine can run them, run and verify them on a board.

- `tflite`: the .tflite reader (tensors, quantization, operators, options);
- `inspect`: MACs, parameters, the engine's arena plan, fit and speed per board;
- `checks`: what the engine refuses (ops, number formats, memory), as translated messages;
- `run`: samples through a board's engine, and the comparison with tflite-micro;
- `commands`: `jazari model info|run|verify`.
"""
