"""Real-time streaming: `Streamer` block by block equals the model on the whole signal, on every backend."""

import keras
import numpy as np
import pytest

import keras_spectro as ks
from keras_spectro.streaming import Streamer

from conftest import assert_exact, to_numpy

N_FFT, HOP, SAMPLES = 64, 16, 700
RNG = np.random.default_rng(7)
SIGNAL = RNG.standard_normal((SAMPLES, 2)).astype("float32")
SCHEMES = {
    "one sample": [1] * SAMPLES,
    "one hop": [HOP] * (SAMPLES // HOP + 1),
    "odd": [7, 13, 3] * 40,
    "bigger than n_fft": [150] * 5,
    "one huge block": [SAMPLES],
    "random with 0": list(RNG.integers(0, 90, 40)),
}


def _model(representation="real_imag", network=True, channels=2, data_format="channels_last", **stft):
    bins, image_channels = N_FFT // 2 + 1, 2 * channels
    pipeline = ks.SpectrogramPipeline(
        [
            ks.STFTSplit(n_fft=N_FFT, hop_length=HOP, representation=representation, data_format=data_format, **stft),
            ks.SpectrogramScaler("standard", axis="channels", data_format=data_format),
        ]
    )
    net = None
    if network:
        shape = (bins, None, image_channels) if data_format == "channels_last" else (image_channels, bins, None)
        net = keras.Sequential(
            [
                keras.Input(shape),
                keras.layers.Conv2D(8, 3, padding="same", activation="relu", data_format=data_format),
                keras.layers.Conv2D(image_channels, (3, 5), padding="same", data_format=data_format),
            ]
        )
    domain = ks.SpectrogramDomain(pipeline, net, data_format=data_format)
    waves = RNG.standard_normal((2, 400, channels)).astype("float32")
    domain.adapt(waves if data_format == "channels_last" else waves.transpose(0, 2, 1))
    return keras.Sequential(
        [keras.Input((None, channels) if data_format == "channels_last" else (channels, None)), domain]
    )


def _whole(model, signal, data_format="channels_last"):
    if data_format == "channels_first":
        return to_numpy(model.predict(signal.T[None], verbose=0))[0].T
    return to_numpy(model.predict(signal[None], verbose=0))[0]


def _stream(streamer, signal, sizes):
    """The outputs of `process` over `signal` cut by `sizes` (the rest in one block), then flush; checks the latency."""
    outs, fed = [], 0
    for size in [*sizes, len(signal)]:
        block = signal[fed : fed + size]
        fed += len(block)
        outs.append(streamer.process(block))
        assert sum(map(len, outs)) == max(0, fed - streamer.latency)
    outs.append(streamer.flush())
    return np.concatenate(outs)


@pytest.fixture(scope="module")
def models():
    return {(r, n): _model(r, n) for r in ("real_imag", "mag_phase") for n in (False, True)}


@pytest.fixture(scope="module")
def streamers(models):
    return {key: Streamer(model) for key, model in models.items()}  # probing once per model


@pytest.mark.parametrize("network", [False, True])
@pytest.mark.parametrize("representation", ["real_imag", "mag_phase"])
def test_equals_the_whole_signal(models, streamers, representation, network):
    streamer, expected = streamers[representation, network], _whole(models[representation, network], SIGNAL)
    assert (streamer.history, streamer.lookahead) == ((3, 3) if network else (0, 0))  # kernels 3 and 5 along frames
    assert streamer.latency == N_FFT - 1 + streamer.lookahead * HOP
    # every scheme on one model, two on the others
    for name in SCHEMES if (representation, network) == ("mag_phase", True) else ("odd", "random with 0"):
        assert_exact(_stream(streamer, SIGNAL, SCHEMES[name]), expected)


def test_compiled_stages_equal_the_whole_signal_and_read_new_weights():
    model = _model("mag_phase", True)
    streamer = Streamer(model, compiled=True)  # tf.function / jax.jit per shape; torch: eager
    streamer.warm_up(10)
    assert streamer._received == 0  # warm_up leaves a fresh stream
    compiled = dict(getattr(streamer._compiled, "_functions", {}))
    outs = [streamer.process(SIGNAL[start : start + 10]) for start in range(0, SAMPLES, 10)]
    assert getattr(streamer._compiled, "_functions", {}) == compiled  # no block of the stream waited for a compilation
    assert_exact(np.concatenate([*outs, streamer.flush()]), _whole(model, SIGNAL))
    with pytest.raises(ValueError, match="block_size must be a positive integer"):
        streamer.warm_up(0)
    kernel = model.layers[0].network.layers[-1].kernel
    kernel.assign(2 * keras.ops.convert_to_numpy(kernel))  # a compiled stage must not keep the old weights
    assert_exact(_stream(streamer, SIGNAL, [10] * 70), _whole(model, SIGNAL))


def test_mono_channels_first_and_short_signals():
    model = _model("mag_phase", network=False, channels=1, data_format="channels_first")
    streamer = Streamer(model)
    for length in (1, 300):
        assert_exact(
            _stream(streamer, SIGNAL[:length, :1], [5] * 100), _whole(model, SIGNAL[:length, :1], "channels_first")
        )


def test_reset_and_empty(models, streamers):
    streamer = streamers["real_imag", True]
    streamer.process(SIGNAL[:200][::-1])  # a stream abandoned half-way
    streamer.reset()
    assert_exact(_stream(streamer, SIGNAL, [64] * 20), _whole(models["real_imag", True], SIGNAL))
    assert streamer.flush().shape == (0, 2)
    with pytest.raises(ValueError, match="blocks"):
        streamer.process(np.zeros((10, 3)))


def test_saved_and_loaded_model_streams(models, tmp_path):
    models["mag_phase", True].save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert_exact(_stream(Streamer(loaded), SIGNAL, SCHEMES["odd"]), _whole(models["mag_phase", True], SIGNAL))


def test_given_context_is_checked(models):
    assert Streamer(models["real_imag", True], history_frames=3, lookahead_frames=4).latency == N_FFT - 1 + 4 * HOP
    with pytest.raises(ValueError, match="history_frames=0"):
        Streamer(models["real_imag", True], history_frames=0, lookahead_frames=2)


def test_step_model_equals_the_streamer(streamers):
    streamer = streamers["mag_phase", True]
    live = streamer.process(SIGNAL)
    streamer.reset()
    step = streamer.step_model(2 * HOP)
    out = streamer.run_step_model(step, SIGNAL, 2 * HOP)
    assert len(out) == max(0, SAMPLES // (2 * HOP) * 2 * HOP - streamer.latency)
    warm = streamer.step_warmup
    assert_exact(out[warm:], live[warm : len(out)])
    no_net = streamers["real_imag", False]
    assert no_net.step_warmup == 0
    assert_exact(
        no_net.run_step_model(no_net.step_model(HOP), SIGNAL, HOP),
        no_net.process(SIGNAL)[: SAMPLES // HOP * HOP - no_net.latency],
    )
    with pytest.raises(ValueError, match="multiple of the hop"):
        streamer.step_model(HOP + 1)


@keras.saving.register_keras_serializable(package="test_streaming")
class FramesLSTM(keras.layers.Layer):
    """An LSTM along the frames of (batch, bins, frames, channels) images."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.lstm = keras.layers.LSTM(4, return_sequences=True)

    def compute_output_shape(self, shape):
        return shape

    def call(self, x):
        shape = keras.ops.shape(x)
        y = keras.ops.reshape(keras.ops.transpose(x, (0, 1, 2, 3)), (-1, shape[2], shape[3]))
        return keras.ops.reshape(self.lstm(y), shape)


def _global_network():
    images = keras.Input((N_FFT // 2 + 1, None, 4))
    mean = keras.layers.GlobalAveragePooling2D(keepdims=True)(images)
    return keras.Model(images, keras.layers.Multiply()([images, mean]))


def _domain(stft=None, after=(), network=None, samples=None):
    steps = [ks.STFTSplit(n_fft=N_FFT, hop_length=HOP, **(stft or {})), *after]
    domain = ks.SpectrogramDomain(ks.SpectrogramPipeline(steps), network)
    domain.build((None, samples, 2))
    return domain


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda: _domain({"pad_mode": "reflect"}), "reflect"),
        (lambda: _domain({"representation": "magnitude"}), "Griffin-Lim"),
        (lambda: _domain({"center": False}), "center=True only"),
        (lambda: _domain(network=_global_network()), "more than 64"),
        (lambda: _domain(network=FramesLSTM()), "recurrent"),
        (
            lambda: _domain(
                after=[ks.SpectrogramScaler(axis=2, minimum=np.zeros(200), maximum=np.ones(200))], samples=199 * HOP
            ),
            "frames axis",
        ),
        (
            lambda: ks.SpectrogramDomain(ks.SpectrogramPipeline([ks.AudioPadding(500), ks.STFTSplit(n_fft=N_FFT)])),
            "AudioPadding",
        ),
    ],
)
def test_refusals(make, reason):
    try:
        domain = make()
    except ValueError as error:  # a layer refusing its settings itself is also fine
        pytest.skip(f"refused when built: {error}")
    with pytest.raises(ValueError, match=reason):
        Streamer(domain)


def test_the_stream_command(models, tmp_path, capsys):
    import soundfile

    from keras_spectro import cli

    models["mag_phase", True].save(tmp_path / "m.keras")
    soundfile.write(tmp_path / "in.wav", SIGNAL * 0.1, 16000, subtype="FLOAT")
    threads = _torch_threads()
    assert (
        cli.main(
            [
                "stream",
                str(tmp_path / "m.keras"),
                str(tmp_path / "in.wav"),
                "-o",
                str(tmp_path / "out.wav"),
                "--block-ms",
                "3",
            ]
        )
        == 0
    )
    assert "latency 111 samples" in capsys.readouterr().out
    assert _torch_threads() == threads  # one thread while streaming, then the caller's count again
    out, _ = soundfile.read(tmp_path / "out.wav", dtype="float32")
    assert_exact(out, _whole(models["mag_phase", True], SIGNAL * 0.1))
    assert (
        cli.main(["stream", str(tmp_path / "m.keras"), str(tmp_path / "in.wav"), "-o", str(tmp_path / "out.mp3")]) == 1
    )


def _torch_threads():
    if keras.backend.backend() != "torch":
        return None
    import torch

    return torch.get_num_threads()


@pytest.mark.parametrize("n_fft, hop", [(64, 32), (63, 16)])
def test_poorly_covered_and_odd_lengths_equal_the_whole_signal(n_fft, hop):
    # 50 % overlap: the domain pads lengths 30, 31 past a multiple of 32 with a frame more; odd n_fft: frames 1 + (L - 1) // hop
    bins = n_fft // 2 + 1
    network = keras.Sequential([keras.Input((bins, None, 2)), keras.layers.Conv2D(2, 3, padding="same")])
    stft = ks.STFTSplit(n_fft=n_fft, hop_length=hop)
    model = keras.Sequential([keras.Input((None, 1)), ks.SpectrogramDomain([stft], network)])
    streamer = Streamer(model)
    for length in (62, 63, 64, 94, 95, 96, 127, 128):
        signal = SIGNAL[:length, :1]
        assert_exact(_stream(streamer, signal, [7] * 20), _whole(model, signal))
