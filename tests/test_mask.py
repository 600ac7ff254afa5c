"""ApplyMask against numpy: magnitude and complex masks, both layouts, several sources, tf.data, shapes, saving."""

import keras
import numpy as np
import pytest

import keras_spectro as ks

from conftest import to_numpy


def _numpy_mask(images, masks, kind, representation, sources):
    """channels_last numpy reference, one audio channel and one source at a time."""
    channels = images.shape[-1] // 2
    out = []
    for s in range(sources):
        for k in range(channels):
            a, b = images[..., 2 * k], images[..., 2 * k + 1]
            if kind == "complex":
                z = (a + 1j * b) * (
                    masks[..., s * 2 * channels + 2 * k] + 1j * masks[..., s * 2 * channels + 2 * k + 1]
                )
                out += [z.real, z.imag]
            elif representation == "mag_phase":
                out += [a * masks[..., s * channels + k], b]
            else:
                out += [a * masks[..., s * channels + k], b * masks[..., s * channels + k]]
    return np.stack(out, -1)


CASES = [
    ("magnitude", "mag_phase", 1),
    ("magnitude", "mag_phase", 3),
    ("magnitude", "real_imag", 2),
    ("complex", "real_imag", 1),
    ("complex", "real_imag", 2),
]


@pytest.mark.parametrize("kind,representation,sources", CASES)
def test_equals_numpy_in_both_layouts(rng, kind, representation, sources):
    channels = 2
    images = rng.standard_normal((2, 9, 5, 2 * channels)).astype("float32")
    masks = rng.standard_normal((2, 9, 5, sources * channels * (2 if kind == "complex" else 1))).astype("float32")
    expected = _numpy_mask(images, masks, kind, representation, sources)
    layer = ks.ApplyMask(kind, representation, sources=sources, data_format="channels_last")
    np.testing.assert_allclose(to_numpy(layer([images, masks])), expected, rtol=1e-6, atol=1e-6)
    first = ks.ApplyMask(kind, representation, sources=sources, data_format="channels_first")
    out = first([images.transpose(0, 3, 1, 2), masks.transpose(0, 3, 1, 2)])
    np.testing.assert_allclose(to_numpy(out), expected.transpose(0, 3, 1, 2), rtol=1e-6, atol=1e-6)


def test_a_magnitude_mask_on_mag_phase_images_scales_the_audio(rng):
    waves = rng.standard_normal((1, 800, 2)).astype("float32")
    stft = ks.STFTSplit(n_fft=128, hop_length=32, representation="mag_phase")
    images = stft(waves)
    masks = np.full((1, 65, images.shape[2], 2), 0.5, "float32")
    np.testing.assert_allclose(to_numpy(stft.inverse()(ks.ApplyMask()([images, masks]))), 0.5 * waves, atol=1e-5)


def test_any_frame_count_batch_zero_shapes_and_saving(rng, tmp_path):
    images_in = keras.Input((9, None, 4))
    masks = keras.layers.Conv2D(4, 1, activation="sigmoid")(images_in)
    model = keras.Model(images_in, ks.ApplyMask(sources=2)([images_in, masks]))
    assert model.output.shape == (None, 9, None, 8)
    for frames in (3, 11):
        images = rng.standard_normal((2, 9, frames, 4)).astype("float32")
        assert model.predict(images, verbose=0).shape == (2, 9, frames, 8)
    assert to_numpy(ks.ApplyMask()([np.zeros((0, 9, 3, 4), "float32"), np.zeros((0, 9, 3, 2), "float32")])).shape == (
        0,
        9,
        3,
        4,
    )
    images = rng.standard_normal((2, 9, 7, 4)).astype("float32")
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(
        keras.models.load_model(tmp_path / "m.keras").predict(images, verbose=0),
        model.predict(images, verbose=0),
        atol=1e-6,
    )
    layer = ks.ApplyMask("complex", "real_imag", sources=3, data_format="channels_first")
    assert ks.ApplyMask.from_config(layer.get_config()).get_config() == layer.get_config()


def test_wrong_channel_counts_are_refused_clearly():
    images = np.zeros((1, 9, 3, 4), "float32")
    with pytest.raises(ValueError, match=r"masks with sources \* channels \(one per audio channel\) = 4 channels"):
        ks.ApplyMask(sources=2)([images, np.zeros((1, 9, 3, 2), "float32")])
    with pytest.raises(ValueError, match=r"sources \* 2 \* channels .* = 4 channels"):
        ks.ApplyMask("complex", "real_imag")([images, np.zeros((1, 9, 3, 2), "float32")])
    with pytest.raises(ValueError, match="even, known channel count"):
        ks.ApplyMask()([np.zeros((1, 9, 3, 3), "float32"), np.zeros((1, 9, 3, 1), "float32")])
    with pytest.raises(ValueError, match="same bins and frames"):
        ks.ApplyMask()([images, np.zeros((1, 9, 4, 2), "float32")])
    with pytest.raises(ValueError, match="representation='real_imag'"):
        ks.ApplyMask("complex", "mag_phase")
    with pytest.raises(ValueError, match=r"\[images, masks\]"):
        ks.ApplyMask()(images)


def test_runs_in_tf_data_on_every_backend(rng):
    tf = pytest.importorskip("tensorflow")
    images = rng.standard_normal((4, 9, 6, 4)).astype("float32")
    masks = rng.standard_normal((4, 9, 6, 4)).astype("float32")
    layer = ks.ApplyMask("complex", "real_imag")
    data = tf.data.Dataset.from_tensor_slices((images, masks)).batch(2).map(lambda a, b: layer([a, b]))
    out = np.concatenate([batch.numpy() for batch in data])
    np.testing.assert_allclose(out, _numpy_mask(images, masks, "complex", "real_imag", 1), rtol=1e-6, atol=1e-6)
