"""Jazari Kit on the board.

    import kit
    kit.led.blink(3, 200)
    imu = kit.imu.MPU6050()
    m = kit.Model("/models/gesture.tflite")

`import kit` costs almost nothing: each part is imported the first time it
is used, so a lesson that never touches the camera never pays for it.
"""

__version__ = "0.1.0"  # equals jazari.__version__ on the host

# name -> (module, attribute in it, or None for the module itself)
_PARTS = {
    "Model": ("kit.nn.model", "Model"),
    "board": ("kit.board", None),
    "led": ("kit.hw.led", None),
    "button": ("kit.hw.button", None),
    "imu": ("kit.hw.imu", None),
}


def __getattr__(name):
    part = _PARTS.get(name)
    if part is None:
        raise AttributeError(name)
    path, attribute = part
    module = __import__(path, None, None, ("_",))  # a fromlist makes it return the submodule
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # found directly from now on
    return value
