"""SpectrogramDomain(sources=K): K waveforms from one mixture, exact for linear networks, on every path."""

import keras
import numpy as np
import pytest
import soundfile

import keras_spectro as ks
from keras_spectro.audio import process_file
from keras_spectro.layers.base import SpectroLayer

from conftest import BACKEND, assert_exact, to_numpy

GAINS = (0.5, -2.0)


@keras.saving.register_keras_serializable(package="test_separation")
class Gains(SpectroLayer):
    """K copies of the images, copy k times gains[k], source-major on the channel axis: linear; runs in tf.data."""

    def __init__(self, gains=GAINS, data_format="channels_last", channels=None, **kwargs):
        super().__init__(**kwargs)
        self.gains, self.data_format, self.channels = tuple(gains), data_format, channels

    def call(self, images):
        axis = -1 if self.data_format == "channels_last" else 1
        out = self.backend.numpy.concatenate([images * g for g in self.gains], axis=axis)
        if self.channels is not None:  # a network that returns another channel count than it says
            out = out[..., : self.channels] if axis == -1 else out[:, : self.channels]
        return out

    def compute_output_shape(self, shape):
        shape = list(shape)
        axis = len(shape) - 1 if self.data_format == "channels_last" else 1
        shape[axis] *= len(self.gains)
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "gains": list(self.gains), "data_format": self.data_format}


def _move(x, data_format):
    """(..., samples, channels) → (..., channels, samples) for channels_first."""
    return np.ascontiguousarray(np.swapaxes(x, -1, -2)) if data_format == "channels_first" else x


def _waves(rng, batch=2, samples=300, channels=2):
    return rng.uniform(-1, 1, (batch, samples, channels)).astype("float32")


def _domain(data_format="channels_last", scaler=False, gains=GAINS, **options):
    steps = [ks.STFTSplit(n_fft=64, hop_length=16, data_format=data_format)]
    if scaler:
        steps.append(ks.SpectrogramScaler("standard", axis="channels", data_format=data_format))
    steps.append(ks.ChannelIndexer(ks.magnitude_phase_order(2), data_format=data_format))
    network = Gains(gains, data_format)
    return ks.SpectrogramDomain(steps, network, data_format=data_format, sources=len(gains), **options)


def _model(domain, channels=2):
    shape = (None, channels) if domain.data_format == "channels_last" else (channels, None)
    return keras.Sequential([keras.Input(shape), domain])


def _expected(waves, gains, data_format="channels_last"):
    """Source k = gains[k] x the mixture: (batch, K, samples, channels) in the domain's layout."""
    return np.stack([g * _move(waves, data_format) for g in gains], axis=1)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_a_gain_per_source_gives_each_source_exactly(data_format, rng):
    domain = _domain(data_format)
    waves = _waves(rng)
    out = domain(_move(waves, data_format))
    assert tuple(out.shape) == (2, 2, 2, 300) if data_format == "channels_first" else (2, 2, 300, 2)
    assert_exact(out, _expected(waves, GAINS, data_format))
    assert domain.compute_output_shape((None, 2, None) if data_format == "channels_first" else (None, None, 2)) == (
        (None, 2, 2, None) if data_format == "channels_first" else (None, 2, None, 2)
    )


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_any_length_known_or_not_eager_jit_and_predict(data_format, rng):
    model = _model(_domain(data_format))
    assert tuple(model.outputs[0].shape) == (
        (None, 2, 2, None) if data_format == "channels_first" else (None, 2, None, 2)
    )
    jitted = _model(_domain(data_format))
    jitted.compile(jit_compile=True)
    for samples in (1, 17, 300):  # 1 sample and lengths no multiple of the hop
        waves = _waves(rng, samples=samples)
        expected = _expected(waves, GAINS, data_format)
        assert_exact(model(_move(waves, data_format)), expected)
        assert_exact(model.predict(_move(waves, data_format), verbose=0), expected)
        assert_exact(jitted.predict(_move(waves, data_format), verbose=0), expected)


def test_in_tf_data_and_a_tensorflow_graph_of_unknown_length(rng):
    tf = pytest.importorskip("tensorflow")
    domain = _domain(scaler=True, gains=(1.0, 1.0))
    waves = _waves(rng, 4)
    domain.adapt(waves)
    data = tf.data.Dataset.from_tensor_slices(waves).batch(2).map(domain)
    out = np.concatenate([batch.numpy() for batch in data])
    assert_exact(out, _expected(waves, (1.0, 1.0)))
    if BACKEND == "tensorflow":
        graph = tf.function(domain, input_signature=[tf.TensorSpec((None, None, 2), "float32")])
        assert_exact(graph(waves[:, :123]), _expected(waves[:, :123], (1.0, 1.0)))


def test_every_source_goes_back_with_the_statistics_of_the_mixture(rng):
    """Adapted once, on the mixture: unit gains through a scaler give the mixture back for every source."""
    domain = _domain(scaler=True, gains=(1.0, 1.0, 1.0))
    waves = _waves(rng, 3, 500)
    domain.adapt(waves)
    scaler = domain.pipeline.layers[1]
    assert float(to_numpy(scaler.count)) == 3 * 33 * 32  # the mixture's bins x frames, once
    assert_exact(domain(waves[:2]), _expected(waves[:2], (1.0, 1.0, 1.0)))
    # and exactly what the pipeline's own inverse makes of each set of images
    images = to_numpy(Gains((0.3, 2.0))(domain.pipeline(waves[:2])))
    back = domain.pipeline.inverse()
    expected = np.stack([to_numpy(back(images[..., 4 * k : 4 * (k + 1)])) for k in range(2)], axis=1)
    assert_exact(ks.SpectrogramDomain(domain.pipeline, Gains((0.3, 2.0)), sources=2)(waves[:2]), expected)


def test_mixture_consistency_makes_the_sources_sum_to_the_input(rng):
    gains = (0.3, -0.1, 0.4)
    domain = _domain(gains=gains, mixture_consistency=True)
    waves = _waves(rng)
    out = to_numpy(domain(waves))
    assert_exact(out.sum(axis=1), waves)
    residual = (1 - sum(gains)) / len(gains)
    assert_exact(out, _expected(waves, [g + residual for g in gains]))


def test_saved_loaded_and_cloned(tmp_path, rng):
    domain = _domain(scaler=True, gains=(1.0, 1.0), mixture_consistency=True)
    domain.adapt(_waves(rng, 3))
    model = _model(domain)
    waves = _waves(rng, 2, 211)
    expected = to_numpy(model(waves))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    inner = loaded.layers[0]
    assert (inner.sources, inner.mixture_consistency) == (2, True)
    assert_exact(loaded(waves), expected)
    assert_exact(loaded.predict(waves, verbose=0), expected)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    assert_exact(clone(waves), expected)


def test_a_network_of_another_channel_count_is_refused(rng):
    with pytest.raises(
        ValueError, match=r"sources=3\): the network must return 3 sets of images.*\(None, 33, None, 12\)"
    ):
        ks.SpectrogramDomain([ks.STFTSplit(n_fft=64, hop_length=16)], Gains(), sources=3).build((None, None, 2))
    lying = ks.SpectrogramDomain([ks.STFTSplit(n_fft=64, hop_length=16)], Gains(channels=6), sources=2)
    with pytest.raises(ValueError, match=r"sources=2\).*axis 3: 8 -> 6"):  # its shape says 8, it returns 6
        lying(_waves(rng))
    with pytest.raises(ValueError, match="needs a network"):
        ks.SpectrogramDomain([ks.STFTSplit(n_fft=64)], sources=2).build((None, None, 2))
    with pytest.raises(ValueError, match="needs sources > 1"):
        ks.SpectrogramDomain([ks.STFTSplit(n_fft=64)], Gains(), mixture_consistency=True)
    with pytest.raises(ValueError, match="sources must be a positive integer"):
        ks.SpectrogramDomain([ks.STFTSplit(n_fft=64)], Gains(), sources=0)


def test_permutation_invariant_training_improves(rng):
    """Two tones mixed; masks from a tiny network, trained a few steps with PIT SI-SDR: the loss goes down."""
    keras.utils.set_random_seed(0)
    t = np.arange(1024) / 8000
    starts = rng.uniform(0, 1, (16, 2, 1))
    sources = np.stack([np.sin(2 * np.pi * (300 * t + starts[:, 0])), np.sin(2 * np.pi * (2500 * t + starts[:, 1]))], 1)
    sources = sources[..., None].astype("float32")  # (16, 2, 1024, 1)
    images = keras.Input((65, None, 2))
    magnitudes = ks.MagnitudeCompression("log", epsilon=1e-3, representation="mag_phase")(images)
    masks = keras.layers.Conv2D(2, (5, 1), padding="same", activation="sigmoid")(magnitudes)
    network = keras.Model(images, ks.ApplyMask(sources=2)([images, masks]))
    stft = ks.STFTSplit(n_fft=128, hop_length=32, representation="mag_phase")
    model = _model(ks.SpectrogramDomain([stft], network, sources=2), channels=1)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=ks.losses.PermutationInvariant(ks.losses.SISDRLoss()))
    history = model.fit(sources.sum(axis=1), sources, batch_size=8, epochs=6, verbose=0).history["loss"]
    assert history[-1] < history[0] - 1, history


def test_process_file_writes_one_file_per_source_equal_to_the_model(tmp_path, rng):
    rate = 16000
    wave = (0.2 * rng.uniform(-1, 1, (20000, 2))).astype("float32")
    soundfile.write(tmp_path / "mix.wav", wave, rate, subtype="FLOAT")
    domain = ks.SpectrogramDomain([ks.STFTSplit(n_fft=256)], Gains((0.5, -1.5)), sources=2)
    model = _model(domain)
    written = process_file(
        model, tmp_path / "mix.wav", tmp_path / "out_{source}.wav", chunk_seconds=0.5, overlap_seconds=0.1, verbose=0
    )
    assert written == [str(tmp_path / "out_0.wav"), str(tmp_path / "out_1.wav")]
    expected = to_numpy(model.predict_on_batch(wave[None]))[0]
    for k, path in enumerate(written):
        assert_exact(soundfile.read(path, dtype="float32", always_2d=True)[0], expected[k], 1e-4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mix.wav", "out_0.wav", "out_1.wav"]


def test_process_file_refuses_a_target_without_source_and_leaves_nothing_half_way(tmp_path, rng):
    wave = (0.2 * rng.uniform(-1, 1, (5000, 2))).astype("float32")
    soundfile.write(tmp_path / "mix.wav", wave, 16000, subtype="FLOAT")
    model = _model(ks.SpectrogramDomain([ks.STFTSplit(n_fft=256)], Gains((0.5, 8.0)), sources=2))
    with pytest.raises(ValueError, match=r"2 sources.*\{source\}"):
        process_file(model, tmp_path / "mix.wav", tmp_path / "out.wav", verbose=0)
    # source 1 is beyond [-1, 1] for PCM_16: no file at all, not even source 0's
    with pytest.raises(ValueError, match="beyond the"):
        process_file(model, tmp_path / "mix.wav", tmp_path / "out_{source}.wav", subtype="PCM_16", verbose=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mix.wav"]
    one = _model(ks.SpectrogramDomain([ks.STFTSplit(n_fft=256)]))  # one source: {source} is 0
    assert process_file(one, tmp_path / "mix.wav", tmp_path / "one_{source}.wav", verbose=0) == [
        str(tmp_path / "one_0.wav")
    ]
    assert_exact(soundfile.read(tmp_path / "one_0.wav", dtype="float32")[0], wave, 1e-4)


def test_apply_on_the_command_line_writes_one_file_per_source(tmp_path, rng, capsys):
    from keras_spectro.cli import main

    wave = (0.2 * rng.uniform(-1, 1, (9000, 2))).astype("float32")
    soundfile.write(tmp_path / "mix.wav", wave, 16000, subtype="FLOAT")
    model = _model(ks.SpectrogramDomain([ks.STFTSplit(n_fft=256)], Gains((0.5, -1.5)), sources=2))
    model.save(tmp_path / "sep.keras")
    mix, sep = str(tmp_path / "mix.wav"), str(tmp_path / "sep.keras")
    assert main(["apply", sep, mix, "-o", str(tmp_path / "out.wav")]) == 1
    assert "put {source} in the target's name" in capsys.readouterr().err
    assert main(["apply", sep, mix, "-o", str(tmp_path / "out_{source}.wav"), "--overlap-seconds", "0.2"]) == 0
    assert "out_0.wav, " in capsys.readouterr().out
    expected = to_numpy(model.predict_on_batch(wave[None]))[0]
    for k in range(2):
        assert_exact(soundfile.read(tmp_path / f"out_{k}.wav", dtype="float32")[0], expected[k], 1e-4)
