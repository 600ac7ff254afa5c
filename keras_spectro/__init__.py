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


def _load():
    """Imports the submodules and binds the layers' names here (what `import keras_spectro` does)."""
    # importing the layers registers them, so that keras.models.load_model finds them after `import keras_spectro`
    from keras_spectro import audio, distributed, functional, layers, losses, metrics, streaming, utils  # noqa: F401
    from keras_spectro.functional.constants import clear_caches

    globals().update((name, getattr(layers, name)) for name in layers.__all__)
    globals()["clear_caches"] = clear_caches


# The command starts without Keras: every submodule of this package runs this file first, and the
# layers must be registered at `import keras_spectro` (load_model finds them then), so the only way
# for `keras-spectro --help` to answer at once (0.3 s, not 6-11 s) is to tell the command apart
# here; cli.main calls _load() after parsing its arguments.
if _started_as_the_command():
    # TensorFlow reads these once as it loads: unless the user chose otherwise, no log lines around the
    # command's output (TensorFlow 2.21 prints its oneDNN notice, and absl's line before it, whatever the level).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
else:
    _load()
