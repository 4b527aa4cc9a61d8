# kit.nn: the on-board int8 TFLite engine (see docs/engine.md).
# Importing it costs little: ops load only when a model uses them.
from .model import Model
