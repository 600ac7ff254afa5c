"""Pure functions on backend tensors: the exact STFT, its inverse, Griffin-Lim and mel filters.

No state, no variables: usable in losses, custom layers, `jit` and `tf.data` (a tf tensor is
computed with TensorFlow ops whatever the Keras backend). The layers are thin wrappers over
these functions.

Example:

```python
from keras_spectro import functional as F
real, imag = F.stft(waves, n_fft=512, hop_length=128)        # (8, 16000, 2) → 2 x (8, 257, 126, 2)
waves_again = F.istft(real, imag, n_fft=512, hop_length=128, length=16000)
loudness = F.magnitude(real, imag)
```
"""

from keras_spectro.functional.mel import hz_to_mel, mel_filters, mel_to_hz
from keras_spectro.functional.reconstruct import griffin_lim
from keras_spectro.functional.spectrum import istft, magnitude, stft

__all__ = ["griffin_lim", "hz_to_mel", "istft", "magnitude", "mel_filters", "mel_to_hz", "stft"]
