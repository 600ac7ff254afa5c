"""Training losses on waveforms: spectral (STFT, multi-resolution, any pipeline), SI-SDR, SNR, permutation invariance.

Every loss takes waveforms `(batch, samples, channels)` (`data_format="channels_first"`:
`(batch, channels, samples)`), returns one value per example (Keras then applies its
reduction and `sample_weight`), computes in float32 whatever the dtype policy, and gives
finite values and gradients for silent targets and predictions. The STFT is the exact one
of `keras_spectro.functional`.

Example:

```python
import keras_spectro as ks
model.compile(optimizer="adam", loss=ks.losses.MultiResolutionSTFTLoss(), metrics=[ks.metrics.SISDR()])
```
"""

import itertools

import keras
import numpy as np

from keras_spectro.functional.common import (
    check_choice,
    non_negative_number,
    positive_int,
    positive_number,
    safe_sqrt,
    standardize_data_format,
    true_or_false,
)
from keras_spectro.functional.mel import mel_filters
from keras_spectro.functional.spectrum import stft, stft_settings

__all__ = [
    "STFTLoss",
    "MultiResolutionSTFTLoss",
    "SpectrogramLoss",
    "SISDRLoss",
    "SNRLoss",
    "PermutationInvariant",
    "stft_magnitudes",
    "stft_loss_values",
    "signal_to_distortion_db",
    "permutation_invariant_values",
    "check_pair",
]

MAX_SOURCES = 6  # 6! = 720 orderings
DISTANCES = ("l1", "l2")


# --- the math: pure functions of float32 tensors ----------------------------------------
def _waves_first(y, data_format):
    """Waveforms in `data_format` → float32 `(batch, channels, samples)`."""
    y = keras.ops.cast(y, "float32")
    return keras.ops.transpose(y, (0, 2, 1)) if data_format == "channels_last" else y


def stft_magnitudes(waves, n_fft, hop_length, win_length, window, center, pad_mode, eps, filters=None):
    """`sqrt(max(|STFT|², eps))` of float32 `(batch, channels, samples)` → `(batch, channels, bins, frames)`.

    With `filters` `(n_mels, bins)` the magnitudes are then projected on them (floored at `eps`,
    so an empty mel filter gives no log of 0).
    """
    real, imag = stft(waves, n_fft, hop_length, win_length, window, center, pad_mode, data_format="channels_first")
    mags = keras.ops.sqrt(keras.ops.maximum(real * real + imag * imag, eps))
    if filters is not None:
        mags = keras.ops.maximum(keras.ops.matmul(filters, mags), eps)
    return mags


def stft_loss_values(
    y_true, y_pred, resolutions, sc_weight=1.0, log_mag_weight=1.0, lin_mag_weight=0.0, eps=1e-8, filters=None
):
    """Per-example STFT loss, averaged over `resolutions` (`(n_fft, hop_length, win_length)` tuples).

    `y_true`, `y_pred`: float32 `(batch, channels, samples)`; `filters`: a list of mel filter
    banks (one per resolution) or None. Returns `(batch,)`:
    `sc_weight * ||Y - X||_F / ||Y||_F + log_mag_weight * mean|log Y - log X| + lin_mag_weight * mean|Y - X|`.
    """
    ops, axes = keras.ops, (1, 2, 3)
    total = 0.0
    for i, (n_fft, hop_length, win_length, window, center, pad_mode) in enumerate(resolutions):
        bank = None if filters is None else filters[i]
        x = stft_magnitudes(y_pred, n_fft, hop_length, win_length, window, center, pad_mode, eps, bank)
        y = stft_magnitudes(y_true, n_fft, hop_length, win_length, window, center, pad_mode, eps, bank)
        value = 0.0
        if sc_weight:
            difference = y - x
            value += (
                sc_weight
                * safe_sqrt(ops, ops.sum(difference * difference, axis=axes))
                / ops.sqrt(ops.sum(y * y, axis=axes))
            )
        if log_mag_weight:
            value += log_mag_weight * ops.mean(ops.abs(ops.log(y) - ops.log(x)), axis=axes)
        if lin_mag_weight:
            value += lin_mag_weight * ops.mean(ops.abs(y - x), axis=axes)
        total += value
    return total / len(resolutions)


def signal_to_distortion_db(y_true, y_pred, scale_invariant=True, zero_mean=True, eps=1e-8):
    """SI-SDR (or, with `scale_invariant=False`, SNR) in dB per example, the mean over channels.

    `y_true`, `y_pred`: float32 `(batch, channels, samples)`. Per channel, as auraloss:
    `alpha = <x, t> / (|t|² + eps)`, `10 log10(|alpha t|² / (|x - alpha t|² + eps) + eps)`
    (alpha = 1 without scale invariance). Silent targets give 10 log10(eps) = -80 dB, finite.

    Example: t = [3, -0.5, 2, 7], x = [2.5, 0, 2, 8], zero_mean=False → 18.4030 dB.
    """
    ops = keras.ops
    if zero_mean:
        y_true = y_true - ops.mean(y_true, axis=-1, keepdims=True)
        y_pred = y_pred - ops.mean(y_pred, axis=-1, keepdims=True)
    if scale_invariant:
        alpha = ops.sum(y_pred * y_true, axis=-1, keepdims=True) / (
            ops.sum(y_true * y_true, axis=-1, keepdims=True) + eps
        )
        y_true = alpha * y_true
    residual = y_pred - y_true
    ratio = ops.sum(y_true * y_true, axis=-1) / (ops.sum(residual * residual, axis=-1) + eps) + eps
    return ops.mean(10.0 * ops.log10(ratio), axis=-1)


def permutation_invariant_values(pairwise):
    """Per example, the minimum over orderings of the mean of a `(batch, sources, sources)` matrix's entries.

    `pairwise[b, i, j]`: the loss of predicted source j against target source i. Returns `(batch,)`.
    """
    sources = pairwise.shape[-1]
    orderings = np.array(list(itertools.permutations(range(sources))))  # (orderings, sources)
    choose = np.zeros((len(orderings), sources, sources), "float32")
    for k, order in enumerate(orderings):
        choose[k, np.arange(sources), order] = 1.0 / sources
    flat = keras.ops.reshape(pairwise, (-1, sources * sources))
    means = keras.ops.matmul(flat, choose.reshape(len(orderings), -1).T)  # (batch, orderings)
    return keras.ops.sort(means, axis=-1)[:, 0]  # the minimum; `ops.min` raises on an empty batch (TF, torch)


# --- checks -----------------------------------------------------------------------------
def _layout(data_format):
    return "(batch, samples, channels)" if data_format == "channels_last" else "(batch, channels, samples)"


def check_pair(y_true, y_pred, data_format, who, rank=3, layout=None, broadcast_channels=False):
    """Refuses targets and predictions that do not line up, in one line naming both shapes and the layout.

    Both must have `rank` axes (`layout`, default the waveforms' of `data_format`) and equal
    sizes where known; with `broadcast_channels` a target of one channel is taken for
    predictions of several (the channel axis: the last for channels_last, else axis 1 of
    the waveforms); `None` where the caller has no such option (no hint to it). Returns
    `y_true`, broadcast where asked.

    Example: `check_pair(t, x, "channels_last", "SISDRLoss")` refuses t (2, 4000, 1) against x (2, 4010, 1).
    """
    layout = layout or _layout(data_format)
    try:
        true_shape, pred_shape = tuple(y_true.shape), tuple(y_pred.shape)
    except ValueError:  # a TensorFlow graph tensor of unknown rank: the ops check it as they run
        return y_true
    if len(true_shape) != rank or len(pred_shape) != rank:
        raise ValueError(f"{who} takes y_true and y_pred of shape {layout}; got {true_shape} and {pred_shape}.")
    channel_axis = rank - 1 if data_format == "channels_last" else rank - 2
    broadcast = False
    for axis, (t, p) in enumerate(zip(true_shape, pred_shape)):
        if t is None or p is None or t == p:
            continue
        if broadcast_channels and axis == channel_axis and t == 1:
            broadcast = True
            continue
        hint = (
            " (a mono target for several channels: broadcast_channels=True)"
            if broadcast_channels is not None and axis == channel_axis and t == 1
            else ""
        )
        raise ValueError(f"{who}: y_true {true_shape} and y_pred {pred_shape} do not line up (layout {layout}){hint}.")
    if broadcast:
        y_true = keras.ops.broadcast_to(y_true, keras.ops.shape(y_pred))
    return y_true


def _float32_policy(kwargs):
    kwargs.setdefault("dtype", "float32")  # Keras casts y_true and y_pred to this before `call`
    return kwargs


# --- the losses ------------------------------------------------------------------------
class _STFTLossBase(keras.losses.Loss):
    """What STFTLoss and MultiResolutionSTFTLoss share: settings per resolution, options, `call`."""

    def __init__(
        self,
        resolutions,
        window,
        center,
        pad_mode,
        sc_weight,
        log_mag_weight,
        lin_mag_weight,
        eps,
        n_mels,
        sample_rate,
        data_format,
        broadcast_channels=False,
        **kwargs,
    ):
        super().__init__(**_float32_policy(kwargs))
        self.broadcast_channels = true_or_false(broadcast_channels, "broadcast_channels")
        window = (
            window if window is None or isinstance(window, str) else np.asarray(window, "float64").tolist()
        )  # a JSON config
        self.window, self.center, self.pad_mode = window, true_or_false(center, "center"), pad_mode
        self.sc_weight = non_negative_number(sc_weight, "sc_weight")
        self.log_mag_weight = non_negative_number(log_mag_weight, "log_mag_weight")
        self.lin_mag_weight = non_negative_number(lin_mag_weight, "lin_mag_weight")
        self.eps = positive_number(eps, "eps")
        self.data_format = standardize_data_format(data_format)
        if not resolutions:
            raise ValueError("At least one STFT resolution is needed.")
        for n_fft, hop_length, win_length in resolutions:
            stft_settings(n_fft, hop_length, win_length, window, center, pad_mode)  # checks the settings now
        as_key = tuple(window) if isinstance(window, list) else window
        self._resolutions = [
            (n_fft, hop_length, win_length, as_key, self.center, pad_mode)
            for n_fft, hop_length, win_length in resolutions
        ]
        self.n_mels = None if n_mels is None else positive_int(n_mels, "n_mels")
        self.sample_rate = sample_rate
        self._filters = None
        if self.n_mels is not None:
            if sample_rate is None:
                raise ValueError("n_mels needs the audio's sample_rate (in Hz) for the mel filters.")
            self._filters = [mel_filters(sample_rate, n_fft, self.n_mels) for n_fft, *_ in resolutions]

    def call(self, y_true, y_pred):
        y_true = check_pair(
            y_true, y_pred, self.data_format, type(self).__name__, broadcast_channels=self.broadcast_channels
        )
        y_true, y_pred = _waves_first(y_true, self.data_format), _waves_first(y_pred, self.data_format)
        return stft_loss_values(
            y_true,
            y_pred,
            self._resolutions,
            self.sc_weight,
            self.log_mag_weight,
            self.lin_mag_weight,
            self.eps,
            self._filters,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "window": self.window,
            "center": self.center,
            "pad_mode": self.pad_mode,
            "sc_weight": self.sc_weight,
            "log_mag_weight": self.log_mag_weight,
            "lin_mag_weight": self.lin_mag_weight,
            "eps": self.eps,
            "n_mels": self.n_mels,
            "sample_rate": self.sample_rate,
            "data_format": self.data_format,
            "broadcast_channels": self.broadcast_channels,
        }


@keras.saving.register_keras_serializable(package="keras_spectro")
class STFTLoss(_STFTLossBase):
    """Spectral convergence + log-magnitude L1 (+ linear-magnitude L1) of one STFT, per example.

    With `X = sqrt(max(|STFT(y_pred)|², eps))` and `Y` the same of `y_true`, over all
    channels of an example: `sc_weight * ||Y - X||_F / ||Y||_F + log_mag_weight *
    mean|log Y - log X| + lin_mag_weight * mean|Y - X|` (natural log). With `n_mels` (and
    `sample_rate`), X and Y are first projected on `mel_filters(sample_rate, n_fft, n_mels)`.
    For a batch of one it equals `auraloss.freq.STFTLoss` with the same settings (auraloss
    pools a whole batch into one norm; this loss keeps one value per example).

    Args:
        n_fft: FFT size.
        hop_length: samples between frames.
        win_length: window size, centred in `n_fft` (default `n_fft`).
        window: `"hann"`, `"hamming"`, `"blackman"`, None or an array, as in `STFTSplit`.
        center: frame t centred at `t * hop_length`, as in `STFTSplit`.
        pad_mode: the padding of `center`: `"reflect"` (auraloss' default) or `"constant"`.
        sc_weight: the weight of the spectral convergence.
        log_mag_weight: the weight of the log-magnitude L1.
        lin_mag_weight: the weight of the linear-magnitude L1.
        eps: the floor of the squared magnitudes, > 0.
        n_mels: None, or the number of mel bands the magnitudes are projected on first.
        sample_rate: the audio's rate in Hz, needed with `n_mels`.
        data_format: `"channels_last"` `(batch, samples, channels)` or `"channels_first"`.
        broadcast_channels: False (default): a target must have the predictions' shape;
            True takes a mono target for predictions of several channels.
        **kwargs: `keras.losses.Loss`'s `name`, `reduction`, `dtype` (default float32).

    Example: `model.compile(loss=STFTLoss(n_fft=512, hop_length=128))`
    """

    def __init__(
        self, n_fft=1024, hop_length=256, win_length=None, window="hann", center=True, pad_mode="reflect", sc_weight=1.0,
        log_mag_weight=1.0, lin_mag_weight=0.0, eps=1e-8, n_mels=None, sample_rate=None, data_format=None, **kwargs,
    ):  # fmt: skip
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        super().__init__(
            [(n_fft, hop_length, win_length)],
            window,
            center,
            pad_mode,
            sc_weight,
            log_mag_weight,
            lin_mag_weight,
            eps,
            n_mels,
            sample_rate,
            data_format,
            **kwargs,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "win_length": self.win_length,
        }


@keras.saving.register_keras_serializable(package="keras_spectro")
class MultiResolutionSTFTLoss(_STFTLossBase):
    """The mean of `STFTLoss`es at several resolutions (Parallel WaveGAN's defaults), per example.

    For a batch of one it equals `auraloss.freq.MultiResolutionSTFTLoss`.

    Args:
        fft_sizes: the FFT size of each resolution.
        hop_sizes: the hop of each resolution (as many as `fft_sizes`).
        win_lengths: the window size of each resolution (as many as `fft_sizes`).
        window: `"hann"`, `"hamming"`, `"blackman"`, None or an array, as in `STFTSplit`.
        center: frame t centred at `t * hop_length`, as in `STFTSplit`.
        pad_mode: the padding of `center`: `"reflect"` (auraloss' default) or `"constant"`.
        sc_weight: the weight of the spectral convergence.
        log_mag_weight: the weight of the log-magnitude L1.
        lin_mag_weight: the weight of the linear-magnitude L1.
        eps: the floor of the squared magnitudes, > 0.
        n_mels: None, or the number of mel bands the magnitudes are projected on first.
        sample_rate: the audio's rate in Hz, needed with `n_mels`.
        data_format: `"channels_last"` `(batch, samples, channels)` or `"channels_first"`.
        broadcast_channels: False (default): a target must have the predictions' shape;
            True takes a mono target for predictions of several channels.
        **kwargs: `keras.losses.Loss`'s `name`, `reduction`, `dtype` (default float32).

    Example: `model.compile(loss=MultiResolutionSTFTLoss())` (FFT 1024/2048/512, hops 120/240/50, windows 600/1200/240)
    """

    def __init__(
        self, fft_sizes=(1024, 2048, 512), hop_sizes=(120, 240, 50), win_lengths=(600, 1200, 240), window="hann", center=True,
        pad_mode="reflect", sc_weight=1.0, log_mag_weight=1.0, lin_mag_weight=0.0, eps=1e-8, n_mels=None, sample_rate=None,
        data_format=None, **kwargs,
    ):  # fmt: skip
        self.fft_sizes, self.hop_sizes, self.win_lengths = list(fft_sizes), list(hop_sizes), list(win_lengths)
        if not len(self.fft_sizes) == len(self.hop_sizes) == len(self.win_lengths):
            raise ValueError(
                f"fft_sizes, hop_sizes and win_lengths must have one entry per resolution; got {fft_sizes}, {hop_sizes}, {win_lengths}."
            )
        super().__init__(
            list(zip(self.fft_sizes, self.hop_sizes, self.win_lengths)), window, center, pad_mode, sc_weight, log_mag_weight,
            lin_mag_weight, eps, n_mels, sample_rate, data_format, **kwargs,
        )  # fmt: skip

    def get_config(self):
        return {
            **super().get_config(),
            "fft_sizes": self.fft_sizes,
            "hop_sizes": self.hop_sizes,
            "win_lengths": self.win_lengths,
        }


@keras.saving.register_keras_serializable(package="keras_spectro")
class SpectrogramLoss(keras.losses.Loss):
    """The mean absolute (`"l2"`: squared) difference of `pipeline(y_true)` and `pipeline(y_pred)`, per example.

    The loss runs the pipeline in float32: layers of a half-precision policy are set to
    `"float32"`.

    Args:
        pipeline: a layer (e.g. a `SpectrogramPipeline`) or a list of layers, saved with the loss.
        distance: `"l1"` (mean absolute difference) or `"l2"` (mean squared difference).
        **kwargs: `keras.losses.Loss`'s `name`, `reduction`, `dtype` (default float32).

    Example (HiFi-GAN's log-mel L1, weight 45):

    ```python
    log_mel = ks.SpectrogramPipeline([
        ks.STFTSplit(n_fft=1024, hop_length=256, representation="magnitude"),
        ks.MelScale(sample_rate=22050, n_fft=1024, n_mels=80),
        ks.MagnitudeCompression("log", epsilon=1e-5, representation="magnitude"),
    ])
    model.compile(loss=ks.losses.SpectrogramLoss(log_mel), loss_weights=45.0)
    ```
    """

    def __init__(self, pipeline, distance="l1", **kwargs):
        super().__init__(**_float32_policy(kwargs))
        if isinstance(pipeline, dict):
            pipeline = keras.saving.deserialize_keras_object(pipeline)
        if isinstance(pipeline, (list, tuple)):
            from keras_spectro.layers import SpectrogramPipeline

            pipeline = SpectrogramPipeline(list(pipeline))
        if not isinstance(pipeline, keras.layers.Layer):
            raise ValueError(
                f"SpectrogramLoss takes a layer (e.g. a SpectrogramPipeline) or a list of layers; got {pipeline!r}."
            )
        check_choice(distance, DISTANCES, "distance")
        for layer in pipeline._flatten_layers(include_self=True):
            if layer.dtype_policy.quantization_mode is None and layer.compute_dtype != "float32":
                layer.dtype_policy = "float32"
        self.pipeline, self.distance = pipeline, distance

    def call(self, y_true, y_pred):
        ops = keras.ops
        rank = len(y_pred.shape)
        check_pair(
            y_true, y_pred, "channels_last", "SpectrogramLoss", rank, "that the pipeline takes (equal shapes)", None
        )
        difference = ops.cast(self.pipeline(y_pred), "float32") - ops.cast(self.pipeline(y_true), "float32")
        values = ops.abs(difference) if self.distance == "l1" else difference * difference
        return ops.mean(values, axis=tuple(range(1, len(values.shape))))  # an empty batch too

    def get_config(self):
        return {
            **super().get_config(),
            "pipeline": keras.saving.serialize_keras_object(self.pipeline),
            "distance": self.distance,
        }


class _SDRSettings:
    """What the SDR losses and metrics share: their settings (checked), their dB per example, their config."""

    scale_invariant = True

    def _set_sdr_settings(self, zero_mean, eps, data_format, broadcast_channels):
        self.zero_mean, self.eps = true_or_false(zero_mean, "zero_mean"), positive_number(eps, "eps")
        self.data_format = standardize_data_format(data_format)
        self.broadcast_channels = true_or_false(broadcast_channels, "broadcast_channels")

    def _sdr_db(self, y_true, y_pred):
        """The SDR (or SNR) in dB per example of a checked pair."""
        y_true = check_pair(
            y_true, y_pred, self.data_format, type(self).__name__, broadcast_channels=self.broadcast_channels
        )
        y_true, y_pred = _waves_first(y_true, self.data_format), _waves_first(y_pred, self.data_format)
        return signal_to_distortion_db(y_true, y_pred, self.scale_invariant, self.zero_mean, self.eps)

    def _sdr_config(self):
        return {
            "zero_mean": self.zero_mean,
            "eps": self.eps,
            "data_format": self.data_format,
            "broadcast_channels": self.broadcast_channels,
        }


class _SDRLossBase(_SDRSettings, keras.losses.Loss):
    def __init__(self, zero_mean, eps, data_format, broadcast_channels=False, **kwargs):
        super().__init__(**_float32_policy(kwargs))
        self._set_sdr_settings(zero_mean, eps, data_format, broadcast_channels)

    def call(self, y_true, y_pred):
        return -self._sdr_db(y_true, y_pred)

    def get_config(self):
        return {**super().get_config(), **self._sdr_config()}


@keras.saving.register_keras_serializable(package="keras_spectro")
class SISDRLoss(_SDRLossBase):
    """Minus the scale-invariant SDR in dB, per channel, averaged over channels, per example (auraloss' numbers).

    Silent targets give +80 dB (-10 log10(eps)), finite.

    Args:
        zero_mean: remove each channel's mean first.
        eps: the guard of the divisions and logarithms, > 0.
        data_format: `"channels_last"` `(batch, samples, channels)` or `"channels_first"`.
        broadcast_channels: False (default): a target must have the predictions' shape;
            True takes a mono target for predictions of several channels.
        **kwargs: `keras.losses.Loss`'s `name`, `reduction`, `dtype` (default float32).

    Example: `model.compile(loss=SISDRLoss())`
    """

    def __init__(self, zero_mean=True, eps=1e-8, data_format=None, broadcast_channels=False, **kwargs):
        super().__init__(zero_mean, eps, data_format, broadcast_channels, **kwargs)


@keras.saving.register_keras_serializable(package="keras_spectro")
class SNRLoss(_SDRLossBase):
    """Minus the signal-to-noise ratio in dB, `10 log10(|t|² / (|x - t|² + eps) + eps)`, per channel, averaged.

    Args:
        zero_mean: remove each channel's mean first (torchmetrics' `signal_noise_ratio(zero_mean=True)`).
        eps: the guard of the divisions and logarithms, > 0.
        data_format: `"channels_last"` `(batch, samples, channels)` or `"channels_first"`.
        broadcast_channels: False (default): a target must have the predictions' shape;
            True takes a mono target for predictions of several channels.
        **kwargs: `keras.losses.Loss`'s `name`, `reduction`, `dtype` (default float32).

    Example: `model.compile(loss=SNRLoss())`
    """

    scale_invariant = False

    def __init__(self, zero_mean=False, eps=1e-8, data_format=None, broadcast_channels=False, **kwargs):
        super().__init__(zero_mean, eps, data_format, broadcast_channels, **kwargs)


@keras.saving.register_keras_serializable(package="keras_spectro")
class PermutationInvariant(keras.losses.Loss):
    """Permutation-invariant training: the best ordering of the predicted sources, per example.

    Targets and predictions `(batch, sources, samples, channels)` (the inner loss's
    channels_first: `(batch, sources, channels, samples)`). Per example: the minimum over the
    orderings of the predicted sources of the mean of `loss` over the sources, from the
    sources × sources matrix of pairwise losses (the inner loss runs once on all pairs).
    Up to 6 sources.

    Args:
        loss: the loss of one source, e.g. `SISDRLoss()` (saved with this one).
        **kwargs: `keras.losses.Loss`'s `name`, `reduction`, `dtype` (default float32).

    Example: `model.compile(loss=PermutationInvariant(SISDRLoss()))` for a 2-source separator.
    """

    def __init__(self, loss, **kwargs):
        super().__init__(**_float32_policy(kwargs))
        if isinstance(loss, dict):
            loss = keras.saving.deserialize_keras_object(loss)
        if not isinstance(loss, keras.losses.Loss):
            raise ValueError(
                f"PermutationInvariant takes a keras.losses.Loss instance, e.g. SISDRLoss() or keras.losses.MeanSquaredError(); got {loss!r}."
            )
        self.loss = loss

    def call(self, y_true, y_pred):
        ops = keras.ops
        y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
        shape = tuple(y_true.shape)
        sources = shape[1]
        if len(shape) != 4 or not isinstance(sources, int):
            raise ValueError(
                f"PermutationInvariant expects (batch, sources, samples, channels) waveforms with a known source count; got shape {shape}."
            )
        if not 1 <= sources <= MAX_SOURCES:
            raise ValueError(
                f"PermutationInvariant handles 1 to {MAX_SOURCES} sources ({MAX_SOURCES}! orderings); got {sources}."
            )
        y_true = check_pair(  # the inner loss's layout and broadcast_channels (a mono target for every source)
            y_true,
            y_pred,
            getattr(self.loss, "data_format", "channels_last"),
            "PermutationInvariant",
            4,
            "(batch, sources, ...) (equal shapes)",
            getattr(self.loss, "broadcast_channels", None),
        )
        rest = ops.shape(y_true)[2:]
        pairs = (ops.shape(y_true)[0], sources, sources, *rest)
        true = ops.reshape(ops.broadcast_to(y_true[:, :, None], pairs), (-1, *rest))  # pair (i, j): target i
        pred = ops.reshape(ops.broadcast_to(y_pred[:, None, :], pairs), (-1, *rest))  # pair (i, j): prediction j
        values = self.loss.call(true, pred)
        if len(values.shape) > 1:  # e.g. "mse": one value per sample
            values = ops.mean(ops.reshape(values, (ops.shape(values)[0], -1)), axis=-1)
        return permutation_invariant_values(ops.reshape(ops.cast(values, "float32"), (-1, sources, sources)))

    def get_config(self):
        return {**super().get_config(), "loss": keras.saving.serialize_keras_object(self.loss)}
