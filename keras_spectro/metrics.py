"""Metrics on waveforms: `SISDR` and `SNR`, the mean in dB over examples (weighted by `sample_weight`).

They compute the numbers of `keras_spectro.losses.SISDRLoss` / `SNRLoss` (with the sign
flipped) in float32, per example (the mean over channels), and average them.

Example:

```python
model.compile(optimizer="adam", loss=ks.losses.SISDRLoss(), metrics=[ks.metrics.SISDR(), ks.metrics.SNR()])
```
"""

import keras

from keras_spectro.losses import _SDRSettings

__all__ = ["SISDR", "SNR"]


class _SDRMetricBase(_SDRSettings, keras.metrics.Mean):
    def __init__(self, zero_mean, eps, data_format, name, broadcast_channels=False, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(name=name, **kwargs)
        self._set_sdr_settings(zero_mean, eps, data_format, broadcast_channels)

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(self._sdr_db(y_true, y_pred), sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), **self._sdr_config()}


@keras.saving.register_keras_serializable(package="keras_spectro")
class SISDR(_SDRMetricBase):
    """The mean scale-invariant SDR in dB (per channel, averaged over channels, then over examples).

    Args:
        zero_mean: remove each channel's mean first.
        eps: the guard of the divisions and logarithms, > 0.
        data_format: `"channels_last"` `(batch, samples, channels)` or `"channels_first"`.
        broadcast_channels: False (default): a target must have the predictions' shape;
            True takes a mono target for predictions of several channels.
        name: the name it logs under.
        **kwargs: `keras.metrics.Metric`'s `dtype` (default float32).

    Example: `model.compile(loss="mse", metrics=[SISDR()])` → logs `si_sdr` (and `val_si_sdr`).
    """

    def __init__(self, zero_mean=True, eps=1e-8, data_format=None, name="si_sdr", broadcast_channels=False, **kwargs):
        super().__init__(zero_mean, eps, data_format, name, broadcast_channels, **kwargs)


@keras.saving.register_keras_serializable(package="keras_spectro")
class SNR(_SDRMetricBase):
    """The mean signal-to-noise ratio in dB (per channel, averaged over channels, then over examples).

    Args:
        zero_mean: remove each channel's mean first (torchmetrics' `signal_noise_ratio(zero_mean=True)`).
        eps: the guard of the divisions and logarithms, > 0.
        data_format: `"channels_last"` `(batch, samples, channels)` or `"channels_first"`.
        broadcast_channels: False (default): a target must have the predictions' shape;
            True takes a mono target for predictions of several channels.
        name: the name it logs under.
        **kwargs: `keras.metrics.Metric`'s `dtype` (default float32).

    Example: `model.compile(loss="mse", metrics=[SNR()])` → logs `snr`.
    """

    scale_invariant = False

    def __init__(self, zero_mean=False, eps=1e-8, data_format=None, name="snr", broadcast_channels=False, **kwargs):
        super().__init__(zero_mean, eps, data_format, name, broadcast_channels, **kwargs)
