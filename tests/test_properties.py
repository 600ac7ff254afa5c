"""Property tests: for any shape and setting, the round trip is exact or the layer refuses at build time."""

import librosa
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_spectro import ChannelIndexer, SpectrogramDomain, SpectrogramPipeline, SpectrogramScaler, STFTSplit

from conftest import assert_exact, to_numpy

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def stft_cases(draw):
    n_fft = draw(st.sampled_from([8, 15, 16, 32, 64, 100]))
    win_length = draw(st.integers(max(2, n_fft // 4), n_fft))
    # 50 % and 75 % overlap (the common settings), or any hop
    hop_length = draw(st.sampled_from([max(1, win_length // 2), max(1, win_length // 4), None]))
    hop_length = hop_length or draw(st.integers(1, win_length))
    options = dict(
        n_fft=n_fft,
        win_length=win_length,
        hop_length=hop_length,
        window=draw(st.sampled_from(["hann", "hamming", "blackman", None])),
        center=draw(st.booleans()),
        pad_mode=draw(st.sampled_from(["constant", "reflect"])),
        representation=draw(st.sampled_from(["real_imag", "mag_phase"])),
        data_format=draw(st.sampled_from(["channels_last", "channels_first"])),
        dft=draw(st.sampled_from(["fft", "matmul"])),
    )
    # any length up to 4 n_fft, or 1 to 3 hops past a multiple of the hop
    samples = draw(
        st.one_of(
            st.integers(1, 4 * n_fft),
            st.builds(lambda m, d: m * hop_length + d, st.integers(0, 4), st.integers(1, 3 * hop_length)),
        )
    )
    shape = (draw(st.integers(1, 3)), samples, draw(st.integers(1, 8)))
    return options, shape, draw(st.integers(0, 2**31))


def _exact_range(options, samples):
    """Samples the promise covers: all with center=True, else first to last frame centre."""
    half, hop = options["n_fft"] // 2, options["hop_length"]
    if options["center"]:
        return 0, samples
    frames = 1 + (samples - options["n_fft"]) // hop
    return half, (frames - 1) * hop + half + 1


def _justified(error, options, samples):
    """An independent reason (librosa's window sum-square) that the refusal was right."""
    message = str(error)
    if "larger than the signal" in message:
        return not options["center"] and samples < options["n_fft"]
    if "reflect" in message:
        return options["center"] and options["pad_mode"] == "reflect" and samples <= options["n_fft"] // 2
    if "too large" in message:  # refused for every length: the sum is small between two frames' centres
        window = "boxcar" if options["window"] is None else options["window"]
        n_fft, hop = options["n_fft"], options["hop_length"]
        frames = 2 * -(-n_fft // hop) + 1
        sums = librosa.filters.window_sumsquare(
            window=window, n_frames=frames, hop_length=hop, win_length=options["win_length"], n_fft=n_fft
        )
        peak = np.max(librosa.filters.get_window(window, options["win_length"]) ** 2)
        return sums[n_fft // 2 : (frames - 1) * hop + n_fft // 2 + 1].min() < 1e-3 * peak
    return False


@PROPERTY
@given(stft_cases())
def test_stft_round_trip_is_exact_or_refused_at_build(case):
    options, (batch, samples, channels), seed = case
    waves = np.random.default_rng(seed).uniform(-1, 1, (batch, samples, channels)).astype("float32")
    if options["data_format"] == "channels_first":
        waves = np.ascontiguousarray(np.moveaxis(waves, -1, 1))
    try:
        stft = STFTSplit(**options)
        images = stft(waves)
    except ValueError as error:
        assert _justified(error, options, samples), f"refused without reason: {error}"
        return
    assert tuple(images.shape) == stft.compute_output_shape(waves.shape)
    assert (
        images.shape[2 if options["data_format"] == "channels_last" else 3]
        == librosa.stft(
            np.zeros(samples), n_fft=options["n_fft"], hop_length=options["hop_length"], center=options["center"]
        ).shape[-1]
    )
    back = to_numpy(SpectrogramDomain([stft], data_format=options["data_format"])(waves))
    assert back.shape == waves.shape and np.all(np.isfinite(back))
    start, stop = _exact_range(options, samples)
    if options["data_format"] == "channels_first":
        back, waves = np.moveaxis(back, 1, -1), np.moveaxis(waves, 1, -1)
    assert_exact(back[:, start:stop], waves[:, start:stop])


@PROPERTY
@given(st.integers(1, 8), st.integers(1, 5), st.sampled_from(["minmax", "standard"]), st.integers(0, 2**31))
def test_pipeline_inverse_for_any_channel_count(channels, batch, mode, seed):
    rng = np.random.default_rng(seed)
    waves = rng.uniform(-1, 1, (batch, 700, channels)).astype("float32")
    pipeline = SpectrogramPipeline(
        [
            STFTSplit(n_fft=64, hop_length=16),
            SpectrogramScaler(mode, axis="channels"),
            ChannelIndexer(rng.permutation(2 * channels).tolist()),
        ]
    )
    pipeline.adapt(waves, batch_size=2)
    images = pipeline(waves)
    assert tuple(images.shape) == (batch, 33, 1 + 700 // 16, 2 * channels)
    assert_exact(pipeline.inverse()(images), waves)


def test_hop_one_sample_and_single_sample_signals():
    assert_exact(
        STFTSplit(n_fft=8, hop_length=1).inverse()(STFTSplit(n_fft=8, hop_length=1)(np.ones((1, 5, 1), "float32"))),
        np.ones((1, 5, 1)),
    )
    wave = np.full((2, 1, 3), 0.5, "float32")
    stft = STFTSplit(n_fft=16)
    assert_exact(stft.inverse()(stft(wave)), wave)


@pytest.mark.parametrize("window, win_length", [("hann", 16), (None, 10)])
def test_a_hop_that_leaves_samples_unweighted_is_refused(window, win_length):
    # the periodic Hann window is 0 at its first sample; a rectangular one of 10 leaves 6 of 16 samples out
    with pytest.raises(ValueError, match="too large"):
        STFTSplit(n_fft=16, hop_length=16, window=window, win_length=win_length)
