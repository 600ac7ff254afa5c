"""Waveforms from STFT magnitudes alone: `griffin_lim`, librosa's fast Griffin-Lim on the exact STFT."""

import functools
import warnings

import numpy as np

from keras_spectro.functional.common import (
    Tensor,
    Window,
    backend_for,
    check_choice,
    checked,
    is_known,
    non_negative_int,
    non_negative_number,
    safe_sqrt,
    standardize_data_format,
)
from keras_spectro.functional.compiled import EagerCompiled
from keras_spectro.functional.spectrum import parts_from_public, stft_settings, waves_from_first

INITS = ("zeros", "random")
OPTIONS = (
    "n_iter",
    "momentum",
    "init",
    "seed",
)  # the Griffin-Lim options, as GriffinLim and STFTSplit(griffin_lim=) take them


def griffin_lim_options(n_iter=32, momentum=0.99, init="zeros", seed=0) -> tuple[int, float, str, int]:
    """The Griffin-Lim options, checked: `(n_iter, momentum, init, seed)`."""
    n_iter, momentum = non_negative_int(n_iter, "n_iter"), non_negative_number(momentum, "momentum")
    if momentum > 1:  # as librosa warns
        warnings.warn(f"Griffin-Lim with momentum={momentum} > 1 can be unstable (librosa warns too).", stacklevel=3)
    check_choice(init, INITS, "init")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer; got {seed!r}.")
    return int(n_iter), float(momentum), init, int(seed)


def initial_parts(b, s, init, seed):
    """The starting (real, imag) of magnitudes `s` `(batch, channels, frames, bins)`: phase 0, or uniform with `seed`."""
    if init == "random":
        phase = b.random.uniform(b.core.shape(s), maxval=2 * np.pi, dtype="float32", seed=seed)
        return s * b.numpy.cos(phase), s * b.numpy.sin(phase)
    return s, b.numpy.zeros_like(s)


def iterate(b, s, real, imag, settings, length, n_iter, momentum):
    """`n_iter` steps of librosa.griffinlim from (real, imag) → float32 waveforms `(batch, channels, length)`.

    `s`: non-negative magnitudes `(batch, channels, frames, bins)`. Pure: every option is an
    argument, so a compiled form is keyed by all of them.
    """
    np_ = b.numpy
    rate = momentum / (1 + momentum)

    def step(_, state):  # tprev of librosa is previous here (0 at first)
        real, imag, previous_real, previous_imag = state
        rebuilt_real, rebuilt_imag = settings.spectrum(b, settings.overlap_add(b, real, imag, length))
        real, imag = rebuilt_real - rate * previous_real, rebuilt_imag - rate * previous_imag
        # angles / |angles| * s, and 0 where |angles| is 0 (librosa: angles / (|angles| + tiny) * s)
        size = safe_sqrt(np_, real * real + imag * imag)
        gain = np_.where(size == 0, 0.0, s / np_.where(size == 0, 1.0, size))
        return real * gain, imag * gain, rebuilt_real, rebuilt_imag

    state = (real, imag, np_.zeros_like(s), np_.zeros_like(s))
    real, imag, _, _ = b.core.fori_loop(0, n_iter, step, state)  # one loop body under jit
    return settings.overlap_add(b, real, imag, length)


def griffin_lim(
    magnitudes: Tensor,
    n_fft: int = 2048,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: Window = "hann",
    center: bool = True,
    pad_mode: str = "constant",
    dft: str = "fft",
    n_iter: int = 32,
    momentum: float = 0.99,
    init: str = "zeros",
    seed: int = 0,
    length: int | None = None,
    data_format: str | None = None,
) -> Tensor:
    """Waveforms whose STFT magnitudes approach `magnitudes`: librosa's fast Griffin-Lim (the `GriffinLim` layer's numbers).

    Args:
        magnitudes: `(batch, bins, frames, channels)` (channels_last) or `(batch, channels,
            bins, frames)`; negative values count as 0, NaN and inf pass through.
        n_fft, ..., dft: the STFT settings, as `stft`. n_iter, momentum, init, seed: as
            `GriffinLim` (`init="zeros"` is librosa's `init=None`).
        length: the samples to return (default: all the frames cover).

    Example: `waves = griffin_lim(magnitude(*stft(x, n_fft=1024)), n_fft=1024, length=x.shape[1])`
    """
    b, data_format = backend_for(magnitudes), standardize_data_format(data_format)
    settings = stft_settings(n_fft, hop_length, win_length, window, center, pad_mode, dft)
    options = griffin_lim_options(n_iter, momentum, init, seed)
    return reconstruct(b, magnitudes, settings, length, *options, data_format, run=functools.partial(_COMPILED.run, b))


# eager calls of `griffin_lim` compiled once per setting and shape (JAX, TensorFlow), as the GriffinLim layer's
_COMPILED = EagerCompiled()


def reconstruct(b, magnitudes, settings, length, n_iter, momentum, init, seed, data_format, run=None):
    """`griffin_lim` with checked settings and options; `run(fn, *tensors, static=...)` may compile the loop (a layer's)."""
    s = parts_from_public(b, b.cast(magnitudes, "float32"), data_format)
    s = b.numpy.where(s < 0, 0.0, s)  # NaN stays NaN
    length, checks, empty = settings.inverse_checks(b, s, length, "griffin_lim")
    if empty is not None:
        return waves_from_first(b, empty, data_format)
    real, imag = initial_parts(b, s, init, seed)
    static = (settings, length, n_iter, momentum)
    if run is not None and is_known(length):
        waves = run(iterate, s, real, imag, static=(settings, int(length), n_iter, momentum))
    else:
        waves = iterate(b, s, real, imag, *static)
    return checked(b, waves_from_first(b, waves, data_format), checks)
