"""The eager PyTorch fast paths of the FFT STFT (`dft="fft"`): `torch.stft` into the image layout, the
inverse FFT read straight from the image, and the whole inverse in a few large ops.

Each takes the `FFTTransform` it speeds up and returns what the generic path returns, or None
where it does not apply (a torch.compile trace, gradients it cannot give). `functional.spectrum`
calls them on the torch backend only; torch is imported inside, so this module loads without it.
"""


def refuse_onnx_export():
    """In a torch ONNX export, a ValueError: ONNX has no inverse FFT and torch exports no complex STFT."""
    import torch

    if torch.onnx.is_in_onnx_export():
        raise ValueError("STFT layers with dft='fft' cannot be exported to ONNX: build them with dft='matmul'.")


def _window(transform, like):
    """The transform's window as a torch tensor on `like`'s device, made once."""
    return transform.constants.get("torch", "window", lambda: transform.window, like)


def image(transform, x, channels_last):
    """Eager torch only: padded `(batch, channels, samples)` → a real_imag image by `torch.stft`
    and one strided copy into the image layout, or None in a torch.compile trace.

    1.3-2x faster than splitting and stacking the parts (benchmarks/eager.py).
    """
    import torch

    if torch.compiler.is_compiling():
        return None
    refuse_onnx_export()
    batch, channels, samples = x.shape
    window = _window(transform, x)
    spectrum = torch.stft(
        x.reshape(batch * channels, samples),
        transform.n_fft,
        transform.hop,
        window=window,
        center=False,
        return_complex=True,
    )  # (batch * channels, bins, frames), a transposed view
    bins, frames = spectrum.shape[1:]
    spectrum = spectrum.reshape(batch, channels, bins, frames)
    if channels_last and not (torch.is_grad_enabled() and x.requires_grad):
        # each (real, imag) pair moved as one float64: 1.1-1.2x faster than as a complex64 (a dtype view has no gradient)
        pairs = torch.view_as_real(spectrum).view(torch.float64).reshape(batch, channels, bins, frames)
        image = torch.empty((batch, bins, frames, channels), dtype=torch.float64, device=x.device)
        image.copy_(pairs.permute(0, 2, 3, 1))
        return image.view(x.dtype).reshape(batch, bins, frames, 2 * channels)
    if channels_last:
        image = torch.empty((batch, bins, frames, channels), dtype=spectrum.dtype, device=x.device)
        image.copy_(spectrum.permute(0, 2, 3, 1))
        return torch.view_as_real(image).reshape(batch, bins, frames, 2 * channels)
    image = torch.empty((batch, channels, 2, bins, frames), dtype=x.dtype, device=x.device)
    image.copy_(torch.view_as_real(spectrum).permute(0, 1, 4, 2, 3))
    return image.reshape(batch, 2 * channels, bins, frames)


def segments(transform, images):
    """torch, channels_last real_imag float32 images `(batch, bins, frames, 2 * channels)` → windowed
    segments `(batch, channels, frames, n_fft)`, reading each (real, imag) pair as one complex number.

    With a gradient, 2.4x faster than splitting the parts and joining them again (benchmarks/fit_overhead.py).
    """
    import torch

    refuse_onnx_export()
    batch, bins, frames, parts = images.shape
    pairs = images.contiguous().reshape(batch, bins, frames, parts // 2, 2)
    spectrum = torch.view_as_complex(pairs).permute(0, 3, 2, 1)  # (batch, channels, frames, bins)
    window = _window(transform, images)
    return torch.fft.irfft(spectrum, transform.n_fft) * window


def inverse(transform, first, second, polar, reciprocal, start, length, channels_last):
    """Eager torch only: the whole inverse in 8 large ops, or None where it does not apply.

    `first`, `second`: (real, imag) or (magnitude, phase) `(batch, channels, frames, bins)`
    views, any strides. They become one complex tensor with 2 zero frames per extra hop
    at each end (one strided pass), one `irfft`, the window multiplied in place, and the
    overlap-add as one sum over a strided view (segment t's block j lands at hop t + j;
    the zero frames make every view in range). `reciprocal`: the window-sum reciprocals
    (numpy). Returns `(batch, channels, length)` (a view of a `(batch, length, channels)`
    tensor when `channels_last`). None (the generic path then runs): inputs needing
    gradients (`out=` ops have none), a torch.compile trace, `n_fft` not a multiple of
    the hop, or samples beyond the last frame (`center=False`). 15-20% faster than
    `torch.istft` on 8 stereo 5 s clips (benchmarks/eager.py).
    """
    import torch

    hop, n_fft = transform.hop, transform.n_fft
    frames = first.shape[2]
    blocks = n_fft // hop
    total = (frames + blocks - 1) * hop
    if (
        n_fft % hop
        or start + length > total
        or (torch.is_grad_enabled() and (first.requires_grad or second.requires_grad))
        or torch.compiler.is_compiling()
        or torch.onnx.is_in_onnx_export()
    ):
        return None
    batch, channels, _, bins = first.shape
    pad = blocks - 1
    spectrum = torch.empty((batch, channels, frames + 2 * pad, bins), dtype=torch.complex64, device=first.device)
    spectrum[:, :, :pad].zero_()
    spectrum[:, :, frames + pad :].zero_()
    (torch.polar if polar else torch.complex)(first, second, out=spectrum[:, :, pad : frames + pad])
    segments = torch.fft.irfft(spectrum, n_fft, dim=-1)  # (batch, channels, frames + 2 pad, n_fft)
    segments.mul_(_window(transform, segments))
    row = (frames + 2 * pad) * n_fft
    shifted = segments.as_strided(
        (batch, channels, frames + pad, blocks, hop), (channels * row, row, n_fft, n_fft - hop, 1), pad * hop
    )  # [t, k, r] = segments[t + pad - k', k' hop + r] with k' = pad - k
    signal = shifted.sum(dim=3).reshape(batch, channels, total)[:, :, start : start + length]
    scale = reciprocal[start : start + length]
    if channels_last:
        out = torch.empty((batch, length, channels), dtype=signal.dtype, device=signal.device).permute(0, 2, 1)
    else:
        out = torch.empty((batch, channels, length), dtype=signal.dtype, device=signal.device)
    return torch.mul(signal, scale, out=out)
