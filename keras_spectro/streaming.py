"""Real-time streaming: a `SpectrogramDomain` run block by block, equal to the whole signal, with a fixed latency.

With `center=True` and constant padding, frame t covers samples `[t·hop − n_fft//2, t·hop − n_fft//2 + n_fft)`
(zeros before the start). An output sample is final once every frame covering it has gone through the
network, which needs the frames of its look-ahead. `Streamer` keeps the input samples of the next frames,
the network's context frames and the overlap-add tail (windowed sums and window-square sums), so its
output equals the model's output on the whole signal to float32 rounding, whatever the block sizes.
"""

import contextlib

import keras
import numpy as np

from keras_spectro.functional.common import backend_for, positive_int
from keras_spectro.functional.framing import overlap_add
from keras_spectro.functional.spectrum import parts_from_image, stft_settings, waves_to_image
from keras_spectro.layers.domain import SpectrogramDomain
from keras_spectro.layers.magnitude import MelScale
from keras_spectro.layers.padding import AudioPadding
from keras_spectro.layers.scaling import SpectrogramScaler
from keras_spectro.layers.stft import GriffinLim, STFTSplit

__all__ = ["Streamer", "find_domain", "layer_reach"]

MAX_CONTEXT_FRAMES = 64  # a network whose output frames depend on frames further away is refused
MAX_PROBED_FRAMES = 4096  # a network whose layers can reach further (by their kernels) is refused unprobed


def find_domain(model):
    """The `SpectrogramDomain` of `model` (the domain itself, or a model holding one as its only layer)."""
    if isinstance(model, SpectrogramDomain):
        return model
    layers = [layer for layer in getattr(model, "layers", []) if not isinstance(layer, keras.layers.InputLayer)]
    if len(layers) == 1 and isinstance(layers[0], SpectrogramDomain):
        return layers[0]
    raise ValueError(f"Streamer needs a SpectrogramDomain or a model holding one as its only layer; got {model!r}.")


class Streamer:
    """Runs an audio-to-audio `SpectrogramDomain` block by block, as live audio arrives.

    `process(block)` takes the next `(samples, channels)` float block (any size, also 0) and
    returns the output samples that are final so far; `flush()` returns the rest when the stream
    ends (then a new stream starts); `reset()` starts a new stream. All the outputs concatenated
    equal `model.predict(whole_signal[None])[0]` to float32 rounding.

    Latency: after `process` has been given N samples in total it has returned exactly
    `max(0, N - latency)` samples, `latency = n_fft - 1 + lookahead_frames * hop_length`.

    Args:
        model: a `SpectrogramDomain`, or a model holding one as its only layer. Its pipeline must
            start with an `STFTSplit` (`center=True`, `pad_mode="constant"`, real_imag or mag_phase)
            followed by per-frame steps; `AudioPadding`, `MelScale`, `GriffinLim`, magnitude-only
            images and scalers with statistics along the frames axis are refused (ValueError).
        history_frames, lookahead_frames: the network's context: output frame t depends on input
            frames `[t - history, t + lookahead]`. Measured by probing the network when None; either
            way checked. A network depending on frames more than `MAX_CONTEXT_FRAMES` (64) away
            (global pooling, attention over all frames) or holding recurrent layers is refused.
        compiled: run the STFT, the network and the inverse as compiled functions, one per input
            shape (`tf.function` on TensorFlow, `jax.jit` on JAX, reading the current weights;
            PyTorch runs eagerly either way). 8-20x faster per block once each shape has
            compiled; `warm_up(block_size)` compiles the shapes a stream of such blocks meets,
            so that no block of the stream waits for a compilation. Same outputs to float32
            rounding.

    Example:

    ```python
    streamer = Streamer(keras.models.load_model("denoiser.keras"))
    for block in microphone_blocks():        # (160, channels) each, say
        speaker.write(streamer.process(block))
    speaker.write(streamer.flush())
    ```
    """

    def __init__(self, model, history_frames=None, lookahead_frames=None, compiled=False):
        self.domain = find_domain(model)
        self._compiled = _CompiledStages(self) if compiled and keras.backend.backend() != "torch" else None
        if getattr(self.domain, "sources", 1) != 1:
            raise ValueError("Streamer streams models with one source (sources=1).")
        self.stft, self.steps = _streamable_steps(self.domain)
        self.channels = self._channel_count()
        s = self.stft._stft
        self.n_fft, self.hop = s.n_fft, s.hop_length
        self._frames = stft_settings(**{**s.config(), "center": False})  # the same frames on samples padded here
        self._window_sq = self._frames.window_sums.window_sq
        self._threshold = self._frames.window_sums.threshold
        self._frame_axis = 2 if self.stft.data_format == "channels_last" else 3
        one_frame = np.zeros((1, self.n_fft, self.channels), "float32")
        self._image_shape = tuple(self.forward(backend_for(None), keras.ops.convert_to_tensor(one_frame)).shape)
        self.history, self.lookahead = _network_context(self, history_frames, lookahead_frames)
        self.latency = self.n_fft - 1 + self.lookahead * self.hop
        self.reset()

    # --- the stream -----------------------------------------------------------------
    def reset(self):
        """Starts a new stream."""
        half = self.n_fft // 2
        self._received = 0  # input samples so far
        self._emitted = 0  # output samples returned so far
        self._samples = np.zeros((half, self.channels), "float32")  # padded samples from frame _computed on
        self._computed = 0  # frames [0, _computed) are images
        self._images = None  # network-input images of frames [_images_from, _computed)
        self._images_from = 0
        self._done = 0  # frames [0, _done) went through the network into the tail
        self._sums = np.zeros((self.channels, 0), "float32")  # overlap-add tail from padded sample half + _emitted
        self._weights = np.zeros(0, "float64")  # the window-square sums there

    def process(self, block):
        """The output samples made final by `block` (`(samples, channels)`), as `(count, channels)` float32."""
        block = np.asarray(block, "float32")
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"Streamer.process takes blocks (samples, {self.channels}); got shape {block.shape}.")
        self._received += len(block)
        self._samples = np.concatenate([self._samples, block])
        ready = (self._received + self.n_fft // 2 - self.n_fft) // self.hop + 1  # frames whose samples all arrived
        self._advance(max(ready, 0), final=False)
        return self._emit(max(0, self._received - self.latency))

    def flush(self):
        """The rest of the output at the end of the stream (the output total equals the input total); resets."""
        if self._received:  # the frames of the domain, which pads a poorly covered end to a covered length
            frames = self.stft._stft.frames_for(self.stft._stft.covered_length(None, self._received))
            needed = (frames - self._computed - 1) * self.hop + self.n_fft
            self._samples = np.pad(self._samples, ((0, max(0, needed - len(self._samples))), (0, 0)))
            self._advance(frames, final=True)
        out = self._emit(self._received, flushed=True)
        self.reset()
        return out

    def _advance(self, frames, final):
        """Computes the images of frames up to `frames` and runs the network where its output is final.

        Frames go through in chunks of power-of-two sizes, so few shapes are ever compiled.
        """
        while frames > self._computed:
            count = _chunk(frames - self._computed)
            window = self._samples[: (count - 1) * self.hop + self.n_fft]
            images = self._run(self.forward, window[None])
            self._images = images if self._images is None else np.concatenate([self._images, images], self._frame_axis)
            self._samples = self._samples[count * self.hop :]
            self._computed += count
        done = frames if final else max(self._done, self._computed - self.lookahead)
        while done > self._done:
            count = _chunk(done - self._done)
            start = max(0, self._done - self.history)  # the network sees what offline sees at frame 0
            stop = min(self._computed, self._done + count + self.lookahead)  # the last frame, or the look-ahead
            context = _frames(self._images, start - self._images_from, stop - self._images_from, self._frame_axis)
            out = _frames(
                self._run(self.network, context), self._done - start, self._done - start + count, self._frame_axis
            )
            self._add(self._run(self.segments, np.ascontiguousarray(out))[0], count)  # (channels, frames, n_fft)
            keep = max(0, self._done - self.history)
            self._images = _frames(self._images, keep - self._images_from, None, self._frame_axis)
            self._images_from = keep

    def _add(self, segments, count):
        """Overlap-adds the windowed frames `[_done, _done + count)` and their window-square sums into the tail."""
        sums = overlap_add(np, segments, count, self.hop)
        weights = overlap_add(np, np.broadcast_to(self._window_sq, (1, count, self.n_fft)), count, self.hop)[0]
        offset = self._done * self.hop - (self.n_fft // 2 + self._emitted)  # < 0 only for the padding before sample 0
        sums, weights, offset = sums[:, max(0, -offset) :], weights[max(0, -offset) :], max(0, offset)
        size = max(self._sums.shape[1], offset + sums.shape[1])
        self._sums = np.pad(self._sums, ((0, 0), (0, size - self._sums.shape[1])))
        self._weights = np.pad(self._weights, (0, size - self._weights.size))
        self._sums[:, offset : offset + sums.shape[1]] += sums
        self._weights[offset : offset + weights.size] += weights
        self._done += count

    def _emit(self, total, flushed=False):
        """The next `total - emitted` output samples, `(count, channels)` (after `flush`, all are final)."""
        count = total - self._emitted
        final = self._received if flushed else max(0, self._done * self.hop - self.n_fft // 2)
        if self._emitted + count > final:  # the latency formula guarantees this never happens
            raise RuntimeError(
                f"Streamer: {count} samples asked, {final - self._emitted} final (a bug: please report it)."
            )
        sums, weights = self._sums[:, :count], self._weights[:count]
        self._sums, self._weights = self._sums[:, count:], self._weights[count:]
        self._emitted = total
        reciprocal = np.where(weights > self._threshold, 1 / np.maximum(weights, 1e-30), 1).astype("float32")
        return np.ascontiguousarray((sums * reciprocal).T)

    def warm_up(self, block_size):
        """Compiles (with `compiled=True`) the shapes a stream of `block_size`-sample blocks meets: streams
        silence in such blocks until the network's context has filled, flushes, then resets.

        Example: `streamer = Streamer(model, compiled=True); streamer.warm_up(160)`.
        """
        block_size = positive_int(block_size, "block_size")
        frames = 2 * (self.history + self.lookahead) + 8  # past the start, where the context grows frame by frame
        samples = frames * self.hop + self.latency + self.n_fft + 4 * block_size
        silence = np.zeros((block_size, self.channels), "float32")
        for _ in range(-(-samples // block_size)):
            self.process(silence)
        self.flush()

    def _run(self, stage, x):
        """`stage(backend, x)` on the numpy array `x`, compiled per shape with `compiled=True`, as numpy."""
        if self._compiled is not None:
            return self._compiled.run(stage, x)
        with _no_gradients():  # torch: no autograd graph for outputs that become numpy
            return _to_numpy(stage(backend_for(None), keras.ops.convert_to_tensor(x)))

    # --- the domain's layers on short windows ---------------------------------------------
    def forward(self, b, waves):
        """Padded samples `(batch, samples, channels)` → the network's input images of the frames they hold."""
        if self.stft.data_format == "channels_first":
            waves = b.numpy.transpose(waves, (0, 2, 1))
        x = b.cast(
            waves_to_image(b, waves, self._frames, self.stft.representation, self.stft.data_format),
            self.stft.compute_dtype,
        )
        for step in self.steps:
            x = step(x)
        return x

    def network(self, b, images):
        """The domain's network on images (the images themselves without one); `b` unused: a stage's signature (`_run`)."""
        return images if self.domain.network is None else self.domain.network(images, training=False)

    def segments(self, b, images):
        """The network's output images → windowed frames `(batch, channels, frames, n_fft)`, ready to overlap-add."""
        for step in reversed(self.steps):
            images = step.invert(images, b.core.shape(images))
        first, second = parts_from_image(b, images, self.stft.data_format)
        if self.stft.representation == "mag_phase":
            first, second = first * b.numpy.cos(second), first * b.numpy.sin(second)
        return self._frames.transform.windowed_irfft(b, first, second)

    def _channel_count(self):
        shape = self.domain.input_spec.axes if self.domain.built and self.domain.input_spec else {}
        channels = shape.get(self.domain._channel_axis())
        if channels is None:
            raise ValueError("Streamer needs a built SpectrogramDomain (call the model once, or load a saved one).")
        return channels

    # --- deployment: one step with explicit state --------------------------------------------
    def step_model(self, block_size):
        """A Keras model `[block, position, *state] → [out, position, *state]` for blocks of `block_size` samples.

        `block_size` must be a multiple of the hop. Every input has a fixed shape (batch 1): the
        block `(1, block_size, channels)` and the state tensors of `step_shapes(block_size)`, all
        zeros at the start of a stream (`initial_state`). Each call returns `block_size` output
        samples lagging the input by `latency` (the first `latency` are zeros before the signal):
        after the pre-roll they equal `Streamer.process`'s outputs, exactly when the network has no
        history and after the first `step_warmup` samples otherwise (at the start the network sees
        zero frames before the signal instead of its edge). Built from the domain's layers; with
        `dft="matmul"` it exports to ONNX and TFLite (built-in ops).

        Example:

        ```python
        step = streamer.step_model(256)
        state = streamer.initial_state(256)
        for block in blocks:                          # (1, 256, channels) each
            out, *state = step.predict_on_batch([block, *state])
        ```
        """
        names, shapes = zip(*self.step_shapes(block_size).items())
        inputs = [keras.Input(batch_shape=shape, name=name) for name, shape in zip(names, shapes)]
        outputs = _Step(self, block_size)(inputs)
        model = keras.Model(inputs, outputs, name=f"stream_step_{block_size}")
        model([np.zeros(shape, "float32") for shape in shapes])  # ran once: torch exports only models that ran
        return model

    def step_shapes(self, block_size):
        """The names and shapes of the step model's inputs (its outputs have the same), in order."""
        p = _StepPlan(self, block_size)
        shapes = {"block": (1, block_size, self.channels), "position": (1, 1), "samples": (1, p.samples, self.channels)}
        if self.history + self.lookahead:
            shapes["images"] = self.forward_shape(self.history + self.lookahead)
        shapes.update({"sums": (1, self.channels, p.tail), "weights": (1, p.tail)})
        return shapes

    def initial_state(self, block_size):
        """The step model's state at the start of a stream: zeros (the block excluded)."""
        return [np.zeros(shape, "float32") for name, shape in self.step_shapes(block_size).items() if name != "block"]

    @property
    def step_warmup(self):
        """Output samples at the start where the step model may differ from the Streamer (0 without network history)."""
        return self.history * self.hop + self.n_fft - self.n_fft // 2 if self.history else 0

    def forward_shape(self, frames):
        """The shape of the network's input images of `frames` frames (batch 1)."""
        shape = list(self._image_shape)
        shape[self._frame_axis] = frames
        return tuple(shape)

    def run_step_model(self, step, signal, block_size, runner=None):
        """Runs `step` (from `step_model(block_size)`) over `signal` `(samples, channels)` block by block.

        Feeds the whole blocks of `signal` (a last partial block is left out), drops the pre-roll,
        and returns the output samples, as many as `process` returns for the same samples.
        `runner(list_of_arrays) → list_of_arrays` runs one step (default: `step.predict_on_batch`):
        e.g. an onnxruntime session or a TFLite interpreter.
        """
        runner = runner or (lambda arrays: [np.asarray(a) for a in step.predict_on_batch(arrays)])
        state, outs = self.initial_state(block_size), []
        for start in range(0, len(signal) - block_size + 1, block_size):
            out, *state = runner([np.asarray(signal[start : start + block_size], "float32")[None], *state])
            outs.append(np.asarray(out)[0])
        return np.concatenate(outs or [np.zeros((0, self.channels), "float32")])[self.latency :]


class _StepPlan:
    """The step model's fixed sizes (in samples and frames) for blocks of `block_size` samples.

    With N (a multiple of the block) samples in, frames `[0, N/hop + first)` are images, the
    tail starts at padded sample `N - latency + n_fft//2`, and the block's k frames land at `offset` in it.
    """

    def __init__(self, streamer, block_size):
        n, hop, half = streamer.n_fft, streamer.hop, streamer.n_fft // 2
        if block_size < 1 or block_size % hop:
            raise ValueError(f"step_model needs a block size that is a multiple of the hop ({hop}); got {block_size}.")
        self.k = block_size // hop
        self.first = (half - n) // hop + 1  # frames made at N = 0 (unclipped: < 0 are masked)
        self.samples = half - self.first * hop  # the input history
        self.offset = self.first * hop + n - 1 - half  # where frame N/hop + first - lookahead starts in the tail
        self.tail = self.offset + (self.k - 1) * hop + n
        self.cap = float(16 * (streamer.latency + n + block_size))  # positions beyond count as "far from the start"


class _Step(keras.layers.Layer):
    """One block of the step model (see `Streamer.step_model`), from the domain's layers."""

    def __init__(self, streamer, block_size, **kwargs):
        super().__init__(**kwargs)
        self.streamer = streamer
        self.domain = streamer.domain  # tracked: the weights travel with exports
        self.block_size = block_size
        self.plan = _StepPlan(streamer, block_size)

    def call(self, inputs):
        s, p, b = self.streamer, self.plan, backend_for(inputs[0])
        np_, k, hop, axis = b.numpy, self.plan.k, s.hop, s._frame_axis
        block, position, samples = inputs[:3]
        images, (sums, weights) = (inputs[3] if len(inputs) == 6 else None), inputs[-2:]
        waves = np_.concatenate([samples, block], axis=1)
        new = s.forward(b, waves[:, : (k - 1) * hop + s.n_fft])
        context = new if images is None else np_.concatenate([images, new], axis=axis)
        out = _frames(s.network(b, context), s.history, s.history + k, axis)
        frame = position + np_.array(
            ((p.first - s.lookahead + np.arange(k)) * hop).astype("float32")
        )  # t * hop of the k frames
        alive = b.cast(np_.greater_equal(frame, 0.0), "float32")  # (1, k): frames at t >= 0 exist
        segments = np_.reshape(s.segments(b, out) * alive[:, None, :, None], (s.channels, k, s.n_fft))
        window_sq = np_.multiply(alive[:, :, None], s._window_sq.astype("float32")[None, None, :])
        added = overlap_add(np_, segments, k, hop)  # (channels, (k - 1) hop + n)
        end = p.tail - p.offset - added.shape[-1]
        sums = sums + np_.pad(added, ((0, 0), (p.offset, end)))[None]
        weights = weights + np_.pad(overlap_add(np_, window_sq, k, hop), ((0, 0), (p.offset, end)))
        head, head_weights = sums[:, :, : self.block_size], weights[:, : self.block_size]
        usable = np_.greater(head_weights, float(s._threshold))
        reciprocal = np_.where(usable, 1.0 / np_.maximum(head_weights, 1e-30), 1.0)
        index = position - s.latency + np_.array(np.arange(self.block_size, dtype="float32"))
        reciprocal = reciprocal * b.cast(np_.greater_equal(index, 0.0), "float32")  # the pre-roll is silence
        out_block = np_.transpose(head * reciprocal[:, None, :], (0, 2, 1))
        zeros = np_.zeros((1, s.channels, self.block_size), "float32")
        state = [np_.minimum(position + float(self.block_size), p.cap), waves[:, self.block_size :]]
        if images is not None:
            state.append(_frames(context, k, None, axis))
        state += [
            np_.concatenate([sums[:, :, self.block_size :], zeros], axis=2),
            np_.concatenate([weights[:, self.block_size :], zeros[:, 0]], axis=1),
        ]
        return [out_block, *state]

    def compute_output_shape(self, input_shape):
        return [tuple(input_shape[0]), *[tuple(shape) for shape in input_shape[1:]]]


class _CompiledStages:
    """A Streamer's stages (`forward`, `network`, `segments`) compiled once per input shape.

    TensorFlow: `tf.function` (its graphs read the variables as they are at each call); JAX:
    `jax.jit` of the stage with the domain's variables as arguments (`keras.StatelessScope`),
    so changed weights are used, not the ones seen at the compilation.
    """

    def __init__(self, streamer):
        self._functions = {}
        self._variables = streamer.domain.variables
        self._backend = keras.backend.backend()

    def run(self, stage, x):
        b = backend_for(None)
        key = (stage.__name__, x.shape)
        fn = self._functions.get(key)
        if fn is None:
            fn = self._functions[key] = self._compile(lambda v: stage(b, v), x.shape)
        return fn(x)

    def _compile(self, fn, shape):
        if self._backend == "tensorflow":
            import tensorflow as tf

            graph = tf.function(fn, input_signature=[tf.TensorSpec(shape, tf.float32)], autograph=False)
            return lambda x: graph(x).numpy()
        import jax

        variables = self._variables

        def stateless(values, x):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn(x)

        jitted = jax.jit(stateless)
        return lambda x: np.asarray(jitted([v.value for v in variables], x))


def _frames(x, start, stop, axis):
    """`x[..., start:stop, ...]` on the frames `axis` (numpy or backend tensors)."""
    index = [slice(None)] * 4
    index[axis] = slice(start, stop)
    return x[tuple(index)]


def _chunk(count):
    """The largest power of two up to `count` (at most 64)."""
    return min(1 << (count.bit_length() - 1), 64)


def _no_gradients():
    if keras.backend.backend() == "torch":
        import torch

        return torch.no_grad()
    return contextlib.nullcontext()


def _to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


# --- what can stream ------------------------------------------------------------------
def _streamable_steps(domain):
    """(the STFTSplit, the steps after it), or a ValueError naming why the pipeline cannot stream exactly."""
    steps = domain.pipeline.steps
    for step in steps:
        if isinstance(step, AudioPadding):
            raise ValueError(
                f"Cannot stream {step.name}: AudioPadding pads or cuts the whole signal to a fixed length; a stream has none."
            )
        if isinstance(step, (MelScale, GriffinLim)):
            raise ValueError(
                f"Cannot stream {step.name}: {type(step).__name__}'s inverse is an iterative estimate over the whole signal, not exact."
            )
    stfts = [i for i, step in enumerate(steps) if isinstance(step, STFTSplit)]
    if len(stfts) != 1 or stfts[0] != 0:
        raise ValueError(
            f"Streamer needs a pipeline that starts with its only STFTSplit; got {[s.name for s in steps]}."
        )
    stft = steps[0]
    if stft.representation == "magnitude":
        raise ValueError(
            "Cannot stream representation='magnitude': its inverse, Griffin-Lim, iterates over the whole signal (not causal)."
        )
    if stft.pad_mode != "constant":
        raise ValueError(
            f"Cannot stream pad_mode={stft.pad_mode!r}: reflect padding mirrors the last samples, unknown until the stream ends. Use 'constant'."
        )
    if not stft.center:
        raise ValueError("Cannot stream center=False: the Streamer supports center=True only.")
    for step in steps[1:]:
        if isinstance(step, SpectrogramScaler) and (2 if step.data_format == "channels_last" else 3) in step._kept_axes(
            4
        ):
            raise ValueError(
                f"Cannot stream {step.name}: its axis={step.axis!r} keeps statistics along the frames axis, which a stream does not have in full."
            )
    return stft, steps[1:]


def layer_reach(network):
    """(frames, widest layer name): a bound on how far along the frames axis (the images' second spatial
    axis) the network's convolutions and poolings reach, read from their kernels, dilations and strides.

    A kernel of size k and dilation d after strides s1, s2, ... reaches `(k - 1) * d * s1 * s2 ...`
    frames; the bound sums these over all layers (every stride counted as coming first: an upper
    bound). A 1-D kernel (a Conv1D over frames reshaped to steps) counts as along the frames.
    Layers without a kernel add nothing here; the probe measures them.

    Example: `layer_reach(Sequential([Input((129, None, 2)), Conv2D(2, (1, 3), dilation_rate=(1, 200))]))` → (400, "conv2d").
    """
    reaches, stride = [], 1
    for layer in network._flatten_layers(include_self=False, recursive=True):
        kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
        if not isinstance(kernel, (tuple, list)) or not kernel:
            continue
        axis = 1 if len(kernel) > 1 else 0  # a 1-D kernel (Conv1D over reshaped frames): its only axis
        dilation = getattr(layer, "dilation_rate", 1)
        dilation = dilation[axis] if isinstance(dilation, (tuple, list)) else dilation
        strides = getattr(layer, "strides", 1)
        strides = (strides[axis] if isinstance(strides, (tuple, list)) else strides) or kernel[axis]
        reaches.append(((int(kernel[axis]) - 1) * int(dilation), layer.name))
        stride *= int(strides)
    total = sum(reach for reach, _ in reaches) * stride
    widest = max(reaches)[1] if reaches else None
    return total, widest


def _network_context(streamer, history, lookahead):
    """(history, lookahead) in frames: measured by probing when None, checked either way."""
    network = streamer.domain.network
    if network is None:
        return 0, 0
    for layer in network._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)):
            raise ValueError(
                f"Cannot stream the network: its recurrent layer {layer.name} ({type(layer).__name__}) makes every output frame depend on all the frames before it."
            )
    cap, b = MAX_CONTEXT_FRAMES, backend_for(None)
    bound, widest = layer_reach(network)
    if bound > MAX_PROBED_FRAMES:
        raise ValueError(
            f"Cannot stream the network: its layers can reach {bound} frames away along the frames axis "
            f"(kernel, dilation and strides of {widest} and the others), beyond the {cap} frames a stream takes."
        )
    radius = max(cap, bound)  # probed beyond what the layers can reach
    probes = 2 * radius + 3
    middle = radius + 1
    rng = np.random.default_rng(0)

    def images(seed_rng):
        wave = seed_rng.standard_normal(((probes - 1) * streamer.hop + streamer.n_fft, streamer.channels)).astype(
            "float32"
        )
        return _to_numpy(streamer.forward(b, keras.ops.convert_to_tensor(wave[None])))

    def run(x):
        try:
            return _to_numpy(streamer.network(b, keras.ops.convert_to_tensor(x)))
        except Exception as error:
            raise ValueError(
                f"Cannot stream the network: it fails on images of other frame counts ({type(error).__name__}: {error})."
            ) from None

    axis = streamer._frame_axis
    x = images(rng)
    y = run(x)
    if history is None or lookahead is None:
        reach = np.zeros(probes, bool)
        for _ in range(2):
            other = images(rng)
            changed = x.copy()
            index = [slice(None)] * 4
            index[axis] = middle
            changed[tuple(index)] = other[tuple(index)]
            moved = np.moveaxis(np.abs(run(changed) - y), axis, 0).reshape(probes, -1)
            reach |= ~np.all(moved <= 1e-7 * max(np.abs(y).max(), 1e-30), axis=1) | ~np.isfinite(moved).all(axis=1)
        where = np.flatnonzero(reach)
        if where.size and (where[0] == 0 or where[-1] == probes - 1):
            raise ValueError(
                f"Cannot stream the network: its output frames depend on frames more than {cap} away "
                f"(global pooling, attention over all frames, recurrence?); streaming needs a bounded context."
            )
        # a pure delay (output frame t reads only t - k) has no look-ahead, not a negative one
        measured_history = max(int(where[-1] - middle), 0) if where.size else 0
        measured_lookahead = max(int(middle - where[0]), 0) if where.size else 0
        if max(measured_history, measured_lookahead) > cap:
            raise ValueError(
                f"Cannot stream the network: its output frames depend on frames up to {measured_history} before "
                f"and {measured_lookahead} after ({widest}: a dilated or strided kernel?), beyond the {cap} a stream takes."
            )
        history = measured_history if history is None else history
        lookahead = measured_lookahead if lookahead is None else lookahead
    for value, name in ((history, "history_frames"), (lookahead, "lookahead_frames")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer; got {value!r}.")
    # the windows a stream uses must give the frames of the whole: in the middle and at both edges
    peak = max(np.abs(y).max(), 1e-30)
    for start, stop, keep_from, keep_to in (
        (middle - history, middle + 3 + lookahead, middle, middle + 3),
        (0, middle + lookahead, 0, middle),
        (middle - history, probes, middle, probes),
    ):
        part = run(_frames(x, max(0, start), stop, axis))
        got = _frames(part, keep_from - max(0, start), keep_to - max(0, start), axis)
        if np.abs(got - _frames(y, keep_from, keep_to, axis)).max() > 1e-5 * peak:
            raise ValueError(
                f"Cannot stream the network with history_frames={history}, lookahead_frames={lookahead}: run on a window "
                f"of frames it does not give the frames of the whole (a larger context, or a dependence on the frame count or position)."
            )
    return int(history), int(lookahead)
