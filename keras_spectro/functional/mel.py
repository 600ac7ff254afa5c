"""The mel filter bank of librosa, in numpy: `mel_filters`, `hz_to_mel`, `mel_to_hz`."""

import warnings

import numpy as np
from numpy.typing import ArrayLike


def hz_to_mel(hz: ArrayLike, htk: bool = False) -> np.ndarray:
    """Mel values of frequencies in Hz: HTK's formula, or Slaney's (linear below 1 kHz, log above), as librosa."""
    hz = np.asarray(hz, "float64")
    if htk:
        return 2595.0 * np.log10(1.0 + hz / 700.0)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-300) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, hz / (200.0 / 3))


def mel_to_hz(mel: ArrayLike, htk: bool = False) -> np.ndarray:
    """The inverse of `hz_to_mel`."""
    mel = np.asarray(mel, "float64")
    if htk:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    return np.where(mel >= 15.0, 1000.0 * np.exp(np.log(6.4) / 27.0 * (mel - 15.0)), mel * (200.0 / 3))


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
