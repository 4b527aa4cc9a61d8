# Interpreter: runs a loaded model's ops in order on each invoke (loader.py
# reads, checks, plans and prepares it, then goes). It is the `ctx` every
# op's eval receives (docs/engine.md).
from . import errors
# Imported with this module, before the model's bytes take the heap (compiled
# from .py, it wants the heap contiguous); let go once a model is ready, and
# imported again by the next one.
from . import loader



class Interpreter:
    def __init__(self, src, weights):
        global loader
        if loader is None:
            from . import loader
        try:
            done = loader.Loader(src, weights)
        finally:
            loader.release()
            loader = None
        self.weights_src = weights
        self.arena = done.arena  # held: the views below are slices of it
        # The bytes of the model's inputs and outputs, {tensor index: view}:
        # eval's tensors are their views already (steps), so the loader's
        # list of every tensor's view is not kept.
        views = done.views
        info = done.info
        self.views = {t.index: views[t.index] for t in info.inputs + info.outputs}
        views = None
        self.steps = done.steps
        self.info = info  # the model's inputs and outputs
        self._kept = done._kept
        self.tensor_bytes = done.tensor_bytes
        self.arena_bytes = done.arena_bytes
        self.scratch_buf = None

    # At eval, a tensor is what the loader made of it: its bytes (an
    # activation's view, a constant in place), or a streamed constant's Tensor.
    def buffer(self, t):
        if type(t) is memoryview:
            return t
        return self.weights_src.tensor(t)

    def weights(self, t, start, nbytes):
        if type(t) is memoryview:
            return t[start:start + nbytes]
        return self.weights_src.read(t, start, nbytes)

    def invoke(self, buffers):
        # No buffers: the inputs were written in place (Model.input()).
        inputs = self.info.inputs
        if buffers and len(buffers) != len(inputs):
            raise errors.wrong_count("inputs", len(inputs), len(buffers))
        views = self.views
        for i in range(len(buffers)):
            t = inputs[i]
            b = buffers[i]
            if len(b) != t.size:
                raise errors.wrong_input(i, t, len(b))
            views[t.index][:] = b
        kept = self._kept
        try:
            for step in self.steps:
                if step.reload is not None:
                    kept.reload(step.reload)
                self.scratch_buf = step.scratch
                step.run(self, step, step.data)
        except errors.BROKEN as e:
            raise errors.bad_shape(step, "%s: %s" % (type(e).__name__, e))
