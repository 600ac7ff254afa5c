"""Issue 28's edges: a Streamer on a network reaching further than it looks, `stream`'s out-of-range
output, a 0 dBFS recording through an identity model, and number arguments of every kind."""

import keras
import numpy as np
import pytest
import soundfile

import keras_spectro as ks
from keras_spectro.audio import process_file
from keras_spectro.audio_io import fit_to_subtype
from keras_spectro.cli import main
from keras_spectro.streaming import Streamer, layer_reach

N_FFT, HOP, BINS = 64, 16, 33


def domain_model(network=None):
    domain = ks.SpectrogramDomain([ks.STFTSplit(n_fft=N_FFT, hop_length=HOP)], network)
    model = keras.Sequential([keras.Input((None, 1)), domain])
    model(np.zeros((1, 200, 1), "float32"))
    return model


def louder(gain):
    return keras.Sequential([keras.Input((BINS, None, 2)), keras.layers.Rescaling(gain)])


def dilated(dilation):
    return keras.Sequential(
        [keras.Input((BINS, None, 2)), keras.layers.Conv2D(2, (1, 3), dilation_rate=(1, dilation), padding="same")]
    )


def test_a_dilated_network_is_measured_beyond_the_probe_or_refused():
    assert layer_reach(dilated(200))[0] == 400
    with pytest.raises(ValueError, match="up to 200 before and 200 after"):
        Streamer(domain_model(dilated(200)))
    streamer = Streamer(domain_model(dilated(30)))
    assert (streamer.history, streamer.lookahead) == (30, 30)  # beyond nothing: the whole reach found
    strided = keras.Sequential(
        [
            keras.Input((BINS, None, 2)),
            keras.layers.Conv2D(2, (1, 3), strides=(1, 2), padding="same"),
            keras.layers.Conv2D(2, (1, 5), dilation_rate=(1, 3), padding="same"),
        ]
    )
    assert layer_reach(strided)[0] == (2 + 12) * 2


def test_a_conv1d_over_the_frames_counts_in_the_reach():
    layers = keras.layers
    over_frames = keras.Sequential(  # frames as the steps of a causal Conv1D reaching 200 frames back
        [
            keras.Input((BINS, None, 2)),
            layers.Permute((2, 1, 3)),
            layers.Reshape((-1, 2 * BINS)),
            layers.Conv1D(2 * BINS, 2, dilation_rate=200, padding="causal"),
            layers.Reshape((-1, BINS, 2)),
            layers.Permute((2, 1, 3)),
        ]
    )
    assert layer_reach(over_frames) == (200, "conv1d")
    with pytest.raises(ValueError, match="up to 200 before and 0 after"):
        Streamer(domain_model(over_frames))


class Roll(keras.layers.Layer):
    """Output frame t is input frame t - 3, wrapping around: not streamable (the edges)."""

    def call(self, images):
        return keras.ops.roll(images, 3, axis=2)


def test_a_delay_streams_and_a_wrapping_shift_is_refused():
    delay = keras.Sequential(  # output frame t is input frame t - 2: history 2, no look-ahead
        [
            keras.Input((BINS, None, 2)),
            keras.layers.ZeroPadding2D(((0, 0), (2, 0))),
            keras.layers.Cropping2D(((0, 0), (0, 2))),
        ]
    )
    model = domain_model(delay)
    streamer = Streamer(model)
    assert (streamer.history, streamer.lookahead) == (2, 0)
    signal = np.random.default_rng(0).standard_normal((20 * HOP + 7, 1)).astype("float32")
    out = np.concatenate([streamer.process(block) for block in np.array_split(signal, 9)] + [streamer.flush()])
    whole = np.asarray(model.predict(signal[None], verbose=0))[0]
    np.testing.assert_allclose(out, whole, atol=1e-5 * np.abs(whole).max())
    with pytest.raises(ValueError, match="history_frames=3, lookahead_frames=0: run on a window"):
        Streamer(domain_model(keras.Sequential([keras.Input((BINS, None, 2)), Roll()])))


def test_fit_to_subtype_allows_half_an_lsb_and_refuses_beyond():
    step = 1 / 32768
    block = np.array([[1 + 0.4 * step], [-1 - 0.4 * step], [0.5]], "float32")
    fitted, clipped = fit_to_subtype(block, "PCM_16", False, 16000)
    assert clipped == 0 and np.abs(fitted).max() == 1
    with pytest.raises(ValueError, match="beyond the \\[-1, 1\\] that PCM_16 holds"):
        fit_to_subtype(block * (1 + 2 * step), "PCM_16", False, 16000)
    assert fit_to_subtype(block * 1.5, "PCM_16", True, 16000)[1] == 2
    assert fit_to_subtype(block * 1.5, "FLOAT", False, 16000)[1] == 0
    assert fit_to_subtype(block * 1.5, "float", False, 16000)[0].max() > 1.5  # libsndfile takes any case


def test_an_identity_model_takes_a_0_dbfs_recording(tmp_path):
    t = np.arange(4000) / 16000
    wave = np.sin(2 * np.pi * 441 * t)[:, None]
    wave = (wave / np.abs(wave).max()).astype("float32")
    soundfile.write(tmp_path / "in.wav", wave, 16000, subtype="PCM_16")
    domain_model().save(tmp_path / "identity.keras")
    process_file(tmp_path / "identity.keras", tmp_path / "in.wav", tmp_path / "out.wav", verbose=0)
    out, _ = soundfile.read(tmp_path / "out.wav", dtype="float32")
    np.testing.assert_allclose(
        out[:, None] if out.ndim == 1 else out,
        soundfile.read(tmp_path / "in.wav", dtype="float32")[0][:, None],
        atol=2 / 32768,
    )


def test_stream_refuses_or_clips_out_of_range_output_as_apply_does(tmp_path, capsys):
    wave = (0.9 * np.sin(np.arange(3000) / 5.0))[:, None].astype("float32")
    soundfile.write(tmp_path / "in.wav", wave, 16000, subtype="FLOAT")
    domain_model(louder(2.0)).save(tmp_path / "loud.keras")
    args = ["stream", str(tmp_path / "loud.keras"), str(tmp_path / "in.wav"), "-o", str(tmp_path / "x.flac")]
    assert main(args) == 1
    assert "beyond the [-1, 1]" in capsys.readouterr().err
    assert not (tmp_path / "x.flac").exists()
    assert main([*args, "--clip"]) == 0
    assert "were clipped" in capsys.readouterr().err
    out, _ = soundfile.read(tmp_path / "x.flac", dtype="float32")
    assert np.abs(out).max() <= 1


def test_stream_writes_the_sources_subtype_as_apply_does(tmp_path, capsys):
    wave = (0.9 * np.sin(np.arange(3000) / 5.0))[:, None].astype("float32")
    soundfile.write(tmp_path / "in.wav", wave, 16000, subtype="PCM_16")
    domain_model(louder(2.0)).save(tmp_path / "loud.keras")
    args = ["stream", str(tmp_path / "loud.keras"), str(tmp_path / "in.wav"), "-o", str(tmp_path / "x.wav")]
    assert main(args) == 1  # PCM_16, as apply writes it, holds [-1, 1] only: refused, not kept as FLOAT
    assert "beyond the [-1, 1]" in capsys.readouterr().err and not (tmp_path / "x.wav").exists()
    assert main([*args, "--subtype", "FLOAT"]) == 0
    assert soundfile.info(tmp_path / "x.wav").subtype == "FLOAT"
    domain_model().save(tmp_path / "identity.keras")
    assert main(["stream", str(tmp_path / "identity.keras"), *args[2:4], str(tmp_path / "y.wav")]) == 0
    assert soundfile.info(tmp_path / "y.wav").subtype == "PCM_16"


@pytest.mark.parametrize("seconds", [float("nan"), float("inf")])
def test_process_file_refuses_a_non_finite_chunk(tmp_path, seconds):
    soundfile.write(tmp_path / "in.wav", np.zeros((1000, 1), "float32"), 16000)
    domain_model().save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="chunk_seconds must be a finite number"):
        process_file(tmp_path / "m.keras", tmp_path / "in.wav", tmp_path / "o.wav", chunk_seconds=seconds, verbose=0)


def test_numpy_numbers_are_numbers(tmp_path):
    soundfile.write(tmp_path / "a.wav", np.zeros((800, 1), "float32"), 16000)
    dataset = ks.audio.AudioFileDataset([tmp_path / "a.wav"] * 2, batch_size=np.int64(2))
    assert dataset.batch_size == 2 and type(dataset.batch_size) is int
    ks.MagnitudeCompression("power", exponent=np.float32(0.3), epsilon=np.float64(1e-6))
    ks.losses.STFTLoss(np.int64(64), np.int64(16), sc_weight=np.float32(1.0))


@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="runs there")
def test_a_domain_with_a_network_in_tf_data_says_where_it_runs():
    import tensorflow as tf

    model = domain_model(louder(1.0))
    data = tf.data.Dataset.from_tensor_slices(np.zeros((2, 300, 1), "float32")).batch(2)
    with pytest.raises(ValueError, match="inside tf.data the network gets TensorFlow tensors"):
        data.map(model.layers[0])
