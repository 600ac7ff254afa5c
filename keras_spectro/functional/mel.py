"""The mel filter bank of librosa, in numpy: `mel_filters`, `hz_to_mel`, `mel_to_hz`."""

import warnings

import numpy as np
from numpy.typing import ArrayLike

# HTK: mel = HTK_MEL_SCALE * log10(1 + hz / HTK_BREAK_HZ)
HTK_MEL_SCALE = 2595.0
HTK_BREAK_HZ = 700.0
# Slaney (librosa's default): linear, SLANEY_HZ_PER_MEL Hz per mel, up to SLANEY_MIN_LOG_HZ (= SLANEY_MIN_LOG_MEL
# mels), then logarithmic with SLANEY_LOG_STEP (ln 6.4 / 27) per mel
SLANEY_HZ_PER_MEL = 200.0 / 3
SLANEY_MIN_LOG_HZ = 1000.0
SLANEY_MIN_LOG_MEL = 15.0
SLANEY_LOG_STEP = np.log(6.4) / 27.0


def hz_to_mel(hz: ArrayLike, htk: bool = False) -> np.ndarray:
    """Mel values of frequencies in Hz: HTK's formula, or Slaney's (linear below 1 kHz, log above), as librosa."""
    hz = np.asarray(hz, "float64")
    if htk:
        return HTK_MEL_SCALE * np.log10(1.0 + hz / HTK_BREAK_HZ)
    log_part = SLANEY_MIN_LOG_MEL + np.log(np.maximum(hz, 1e-300) / SLANEY_MIN_LOG_HZ) / SLANEY_LOG_STEP
    return np.where(hz >= SLANEY_MIN_LOG_HZ, log_part, hz / SLANEY_HZ_PER_MEL)


def mel_to_hz(mel: ArrayLike, htk: bool = False) -> np.ndarray:
    """The inverse of `hz_to_mel`."""
    mel = np.asarray(mel, "float64")
    if htk:
        return HTK_BREAK_HZ * (10.0 ** (mel / HTK_MEL_SCALE) - 1.0)
    log_part = SLANEY_MIN_LOG_HZ * np.exp(SLANEY_LOG_STEP * (mel - SLANEY_MIN_LOG_MEL))
    return np.where(mel >= SLANEY_MIN_LOG_MEL, log_part, mel * SLANEY_HZ_PER_MEL)


def mel_filters(
    sample_rate: float,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | float | None = "slaney",
) -> np.ndarray:
    """The `(n_mels, n_fft // 2 + 1)` triangular filter bank of `librosa.filters.mel`, float32, numpy only.

    `norm`: `"slaney"` (each filter divided by its width in Hz / 2), None, or a
    number p (each filter scaled to unit p-norm, as `librosa.util.normalize`).

    Example: `mel_filters(22050, 2048, n_mels=80) @ magnitudes` → 80 mel bands per frame.
    """
    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    bin_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels + 2), htk)
    ramps = edges[:, None] - bin_hz[None, :]
    widths = np.diff(edges)
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper)).astype("float32")
    if norm == "slaney":
        weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    elif isinstance(norm, str):
        raise ValueError(f"norm must be 'slaney', None or a positive number; got {norm!r}.")
    elif norm is not None:
        length = (
            np.sum(np.abs(weights.astype("float64")) ** norm, axis=1, keepdims=True) ** (1.0 / norm)
            if np.isfinite(norm)
            else np.abs(weights).max(axis=1, keepdims=True)
        )
        weights = (weights / np.where(length < np.finfo("float32").tiny, 1.0, length)).astype("float32")
    if not np.all((edges[:-2] == 0) | (weights.max(axis=1) > 0)):
        warnings.warn(
            f"Empty mel filters: some of the {n_mels} bands get no FFT bin; use fewer mels or a larger n_fft.",
            stacklevel=3,
        )
    return weights
