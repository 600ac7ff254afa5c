"""Keras 3 layers that turn multi-channel audio into spectrogram images and back, exactly.

Example:

```python
import keras_spectro as ks
to_images = ks.SpectrogramPipeline([ks.STFTSplit(n_fft=1024), ks.SpectrogramScaler()])
to_images.adapt(waves)
waves_again = to_images.inverse()(to_images(waves))
```
"""

import os
import sys

if sys.argv[:1] == ["-m"] or os.path.basename(sys.argv[0]).startswith("keras-spectro"):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # run as the command (cli.py): no TensorFlow log lines

from keras_spectro import audio, layers, utils
from keras_spectro.layers import *  # noqa: F401,F403

__version__ = "0.1.0"
