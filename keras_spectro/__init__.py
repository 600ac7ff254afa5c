"""Keras 3 layers that turn multi-channel audio into spectrogram images and back, exactly."""

from keras_spectro import layers
from keras_spectro.layers import *  # noqa: F401,F403

__version__ = "0.1.0"
