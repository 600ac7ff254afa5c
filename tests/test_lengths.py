"""Every length for every STFT: the forward takes it, SpectrogramDomain gives it back exactly, the inverse as librosa."""

import warnings

import keras
import librosa
import numpy as np
import pytest

import keras_spectro as ks
from keras_spectro import functional

from conftest import assert_exact, to_numpy

# 50 % and 75 % overlap, and an odd n_fft; at 50 % a Hann window of 64 is the shortest to leave the last samples
# of some lengths (30 and 31 past a multiple of 32) almost unweighted: the domain pads those
OVERLAPS = [(32, 16), (64, 32), (32, 8), (33, 16)]


def _lengths(hop, multiple=4):
    """Every length from one sample to three hops past a multiple of the hop."""
    return range(multiple * hop + 1, (multiple + 3) * hop + 1)


def _librosa_stft(wave, n_fft, hop):
    return librosa.stft(wave, n_fft=n_fft, hop_length=hop, pad_mode="constant")


@pytest.mark.parametrize("n_fft, hop", OVERLAPS)
def test_every_length_goes_forward_as_librosa_and_round_trips_exactly(n_fft, hop, rng):
    stft = ks.STFTSplit(n_fft=n_fft, hop_length=hop, data_format="channels_first")
    domain = ks.SpectrogramDomain([stft], data_format="channels_first")  # shares stft's compiled forms
    lengths = [*_lengths(hop)] if n_fft != 64 else [n for n in _lengths(hop) if n % hop in (0, 1, 29, 30, 31)]
    for samples in [1, 2, hop - 1, *lengths]:
        waves = rng.standard_normal((1, 1, samples)).astype("float32")
        image = to_numpy(stft(waves))[0]  # (2, bins, frames): real, imag
        expected = _librosa_stft(waves[0, 0], n_fft, hop)
        assert image.shape[1:] == expected.shape, samples
        assert_exact(image[0] + 1j * image[1], expected, 1e-4)
        padded = stft._stft.covered_length(None, samples) != samples
        assert padded == (n_fft == 64 and samples % hop >= 30), samples  # the test checks the padded lengths too
        back = to_numpy(domain(waves))
        assert back.shape == waves.shape
        assert np.abs(back - waves).max() <= 1e-5 * np.abs(waves).max(), samples


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="lengths known only at run time: TensorFlow graphs")
def test_the_domain_round_trip_is_exact_for_run_time_lengths(rng):
    import tensorflow as tf

    stft = ks.STFTSplit(n_fft=32, hop_length=16, data_format="channels_first")
    domain = ks.SpectrogramDomain([stft], data_format="channels_first")
    run = tf.function(domain, input_signature=[tf.TensorSpec((None, 2, None), "float32")])
    for samples in [1, 15, *_lengths(16)]:
        waves = rng.standard_normal((1, 2, samples)).astype("float32")
        assert_exact(run(waves), waves)
    model = keras.Sequential([keras.Input((None, 1)), ks.SpectrogramDomain([ks.STFTSplit(n_fft=512, hop_length=256)])])
    for samples in (1023, 1000, 1259):  # librosa's trouble lengths of the issue, under predict
        waves = rng.standard_normal((1, samples, 1)).astype("float32")
        assert_exact(model.predict(waves, verbose=0), waves)


@pytest.mark.parametrize("n_fft, hop", [(512, 256), (256, 128), (256, 64)])
def test_the_inverse_at_poorly_covered_lengths_is_as_accurate_as_librosa(n_fft, hop, rng):
    """At lengths whose last samples get little window weight the inverse divides by that weight, as librosa's:
    float32 rounding in the spectrum grows there as much for both (given the same spectrum). librosa's inverse
    FFT runs in float64; JAX's and TensorFlow's measure within 10 % of it, torch's float32 one adds its own
    rounding there (measured up to 3.7x librosa's error, 3e-4 of a unit-variance signal)."""
    slack = 5.0 if keras.backend.backend() == "torch" else 1.1
    for samples in [(8 + k) * hop + r for k in range(2) for r in (1, hop // 2, hop - 9, hop - 3, hop - 1)]:
        wave = rng.standard_normal(samples).astype("float32")
        real, imag = (to_numpy(part) for part in functional.stft(wave[None, :, None], n_fft, hop))
        back = to_numpy(functional.istft(real, imag, n_fft, hop, length=samples))[0, :, 0]
        spectrum = (real + 1j * imag)[0, :, :, 0].astype("complex64")
        reference = librosa.istft(spectrum, n_fft=n_fft, hop_length=hop, length=samples)
        ours, theirs = np.abs(back - wave).max(), np.abs(reference - wave).max()
        assert ours <= slack * theirs + 1e-6, (samples, ours, theirs)


@pytest.mark.parametrize("n_fft, hop", [(255, 64), (255, 128), (101, 25), (33, 1)])
def test_odd_n_fft_without_a_length_returns_librosa_s_length(n_fft, hop, rng):
    wave = rng.standard_normal(1900).astype("float32")
    spectrum = _librosa_stft(wave, n_fft, hop)
    expected = librosa.istft(spectrum, n_fft=n_fft, hop_length=hop)
    images = ks.STFTSplit(n_fft=n_fft, hop_length=hop)(wave[None, :, None])
    inverse = ks.InverseSTFTSplit(n_fft=n_fft, hop_length=hop)
    assert inverse.compute_output_shape(images.shape) == (1, len(expected), 1)
    assert_exact(to_numpy(inverse(images))[0, :, 0], expected)
    real, imag = functional.stft(wave[None, :, None], n_fft, hop)
    assert_exact(to_numpy(functional.istft(real, imag, n_fft, hop))[0, :, 0], expected)
    magnitudes = functional.magnitude(real, imag)
    rebuilt = librosa.griffinlim(np.abs(spectrum), n_iter=2, n_fft=n_fft, hop_length=hop, init=None)
    assert to_numpy(functional.griffin_lim(magnitudes, n_fft, hop, n_iter=2)).shape == (1, len(rebuilt), 1)
    assert to_numpy(ks.GriffinLim(n_fft=n_fft, hop_length=hop, n_iter=2)(magnitudes)).shape == (1, len(rebuilt), 1)


def test_a_fixed_length_inverse_still_refuses_a_wrong_frame_count():
    with pytest.raises(ValueError, match="images of 10 frames cannot become 1000 samples"):
        ks.InverseSTFTSplit(n_fft=512, hop_length=256, length=1000)(np.zeros((1, 257, 10, 2), "float32"))


def test_a_window_with_parameters_is_refused_naming_the_windows_taken():
    for window in (("kaiser", 4.0), [[0.5, 1.0]]):
        with pytest.raises(ValueError, match=r"window must be one of \['blackman', 'hamming', 'hann'\], None or an"):
            ks.STFTSplit(n_fft=256, window=window)
        with pytest.raises(ValueError, match="window must be one of"):
            functional.stft(np.zeros((1, 300, 1), "float32"), 256, window=window)


def test_warnings_where_librosa_warns():
    with pytest.warns(UserWarning, match="n_fft=256 is too large for input signal of length=100"):
        ks.STFTSplit(n_fft=256)(np.zeros((1, 100, 1), "float32"))
    with pytest.warns(UserWarning, match="n_fft=256 is too large for input signal of length=100"):
        functional.stft(np.zeros((1, 100, 1), "float32"), 256)
    with pytest.warns(UserWarning, match="momentum=1.5 > 1 can be unstable"):
        ks.GriffinLim(n_fft=256, momentum=1.5)
    with pytest.warns(UserWarning, match="momentum=2.0 > 1"):
        functional.griffin_lim(np.ones((1, 129, 5, 1), "float32"), 256, n_iter=1, momentum=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ks.STFTSplit(n_fft=256)(np.zeros((1, 256, 1), "float32"))
        ks.STFTSplit(n_fft=256, center=False)(np.zeros((1, 300, 1), "float32"))


def test_functional_griffin_lim_compiles_once_per_setting_and_shape():
    from keras_spectro.functional import reconstruct

    reconstruct._COMPILED._functions.clear()
    magnitudes = np.abs(np.random.default_rng(0).standard_normal((1, 129, 20, 1))).astype("float32")
    first = to_numpy(functional.griffin_lim(magnitudes, 256, n_iter=3))
    assert_exact(functional.griffin_lim(magnitudes, 256, n_iter=3), first)
    functional.griffin_lim(magnitudes, 256, n_iter=4)
    compiled = keras.backend.backend() in ("jax", "tensorflow")
    assert len(reconstruct._COMPILED._functions) == (2 if compiled else 0)


def test_the_demo_model_predicts_on_two_lengths():
    """Under TensorFlow a dilated Conv2D beside an undilated branch broke predict on a second length."""
    from keras_spectro.cli.demo import HOP, N_FFT, denoiser

    pipeline = ks.SpectrogramPipeline([ks.STFTSplit(n_fft=N_FFT, hop_length=HOP)])
    model = keras.Sequential([keras.Input((None, 2)), ks.SpectrogramDomain(pipeline, denoiser(N_FFT // 2 + 1, 4))])
    rng = np.random.default_rng(0)
    for samples in (8000, 5001, 12345):
        waves = rng.standard_normal((1, samples, 2)).astype("float32")
        predicted = model.predict(waves, verbose=0)
        assert predicted.shape == waves.shape
        assert_exact(predicted, to_numpy(keras.ops.stop_gradient(model(waves))), 1e-4)


def test_a_network_with_fixed_frames_at_a_padded_length_is_refused_naming_the_padding():
    """1023 samples give 1 + 1023 // 256 = 4 frames, but the domain pads them to 1024: the network sees 5."""
    net = keras.Sequential([keras.Input((257, 4, 2)), keras.layers.Permute((1, 3, 2)), keras.layers.Dense(4)])
    with pytest.raises(ValueError, match=r"gives it \(None, 257, 5, 2\) \(not \(None, 257, 4, 2\): the domain pads"):
        keras.Sequential([keras.Input((1023, 1)), ks.SpectrogramDomain([ks.STFTSplit(n_fft=512, hop_length=256)], net)])
    net = keras.Sequential([keras.Input((257, 5, 2)), keras.layers.Conv2D(2, 3, padding="same")])
    model = keras.Sequential(
        [keras.Input((1023, 1)), ks.SpectrogramDomain([ks.STFTSplit(n_fft=512, hop_length=256)], net)]
    )
    assert model.predict(np.zeros((1, 1023, 1), "float32"), verbose=0).shape == (1, 1023, 1)
