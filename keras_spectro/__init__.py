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

__version__ = "0.2.0"


def _started_as_the_command():
    """True while `keras-spectro ...` or `python -m keras_spectro ...` starts (not for a program that imports the package)."""
    if os.path.splitext(os.path.basename(sys.argv[0]))[0] == "keras-spectro":
        return True
    command_line = getattr(sys, "orig_argv", [])  # python -X importtime -m keras_spectro --help
    return (
        sys.argv[:1] == ["-m"]
        and "-m" in command_line
        and command_line[command_line.index("-m") + 1 :][:1] == ["keras_spectro"]
    )


# `keras-spectro --help` answers in 0.2 s instead of 6-11 s only if the command starts without Keras. It
# runs this file first, and the layers must be registered here for `keras.models.load_model` (Keras
# imports the module a config names only for its own packages), so the command alone skips these
# imports; `keras_spectro.cli.main` imports what it needs after parsing its arguments.
if not _started_as_the_command():
    from keras_spectro import audio, distributed, functional, layers, losses, metrics, streaming, utils
    from keras_spectro.functional.constants import clear_caches
    from keras_spectro.layers import *  # noqa: F403  (the layers themselves: `ks.STFTSplit`)

    __all__ = [
        "audio",
        "clear_caches",
        "distributed",
        "functional",
        "layers",
        "losses",
        "metrics",
        "streaming",
        "utils",
    ]
    __all__ += layers.__all__  # a form IDEs read
