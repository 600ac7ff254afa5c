"""The keras_spectro layers: every one invertible, saved in `.keras` files, on every backend."""

from keras_spectro.layers.base import Inverse, InvertibleLayer
from keras_spectro.layers.stft import InverseSTFTSplit, STFTSplit
