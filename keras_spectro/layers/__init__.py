"""The keras_spectro layers: invertible (all but `ApplyMask`), saved in `.keras` files, on every backend."""

from keras_spectro.layers.base import Inverse, InvertibleLayer
from keras_spectro.layers.channels import ChannelIndexer, magnitude_phase_order
from keras_spectro.layers.domain import SpectrogramDomain
from keras_spectro.layers.magnitude import MagnitudeCompression, MelScale
from keras_spectro.layers.mask import ApplyMask
from keras_spectro.layers.padding import AudioPadding
from keras_spectro.layers.pipeline import SpectrogramPipeline
from keras_spectro.layers.scaling import MagnitudePhaseScaling, SpectrogramScaler
from keras_spectro.layers.stft import GriffinLim, InverseSTFTSplit, STFTSplit

__all__ = [
    "ApplyMask",
    "AudioPadding",
    "ChannelIndexer",
    "GriffinLim",
    "Inverse",
    "InverseSTFTSplit",
    "InvertibleLayer",
    "MagnitudeCompression",
    "MagnitudePhaseScaling",
    "MelScale",
    "STFTSplit",
    "SpectrogramDomain",
    "SpectrogramPipeline",
    "SpectrogramScaler",
    "magnitude_phase_order",
]
