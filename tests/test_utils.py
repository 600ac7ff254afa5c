import os
import stat
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile  # noqa: E402

import keras_spectro as ks  # noqa: E402
from keras_spectro import STFTSplit  # noqa: E402
from keras_spectro.utils import magnitudes, plot_spectrogram, plot_waveform, save_wav  # noqa: E402

from conftest import to_numpy  # noqa: E402


@pytest.fixture
def tone():
    """Stereo: 1 kHz on the left, 3 kHz on the right, 8 kHz sample rate, 1 s."""
    t = np.arange(8000) / 8000
    return np.stack([np.sin(2 * np.pi * 1000 * t), 0.5 * np.sin(2 * np.pi * 3000 * t)], axis=1).astype("float32")


@pytest.mark.parametrize("representation", ["real_imag", "mag_phase"])
def test_spectrogram_picture_puts_each_tone_at_its_frequency(tone, representation, tmp_path):
    image = STFTSplit(n_fft=512, hop_length=128, representation=representation)(tone[None])[0]
    fig, axes = plt.subplots(1, 3)
    left = plot_spectrogram(axes[0], image, channel=0, representation=representation, sample_rate=8000, hop_length=128)
    right = plot_spectrogram(
        axes[1], image, channel=1, db_power=2, representation=representation, sample_rate=8000, hop_length=128
    )
    loudest = plot_spectrogram(axes[2], image, reduce="max", representation=representation)
    fig.colorbar(right)
    fig.savefig(tmp_path / "s.png")
    for artist, hz in ((left, 1000), (right, 3000)):
        values = artist.get_array()
        assert artist.origin == "lower" and values.shape == (257, 1 + 8000 // 128)
        # the brightest row sits at the tone's frequency on the Hz axis
        low, high = artist.get_extent()[2:]
        assert high == 4000 and low == 0
        assert abs(np.argmax(values.mean(axis=1)) / 256 * 4000 - hz) <= 16
    assert left.get_extent()[1] == pytest.approx((1 + 8000 // 128) * 128 / 8000)
    assert axes[0].get_xlabel() == "Time (s)" and axes[0].get_ylabel() == "Frequency (Hz)"
    # dB of amplitude: 20 log10 |X|
    mags = magnitudes(image, representation)[..., 1]
    np.testing.assert_allclose(right.get_array(), 20 * np.log10(np.maximum(mags, 1e-10)), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(loudest.get_array(), magnitudes(image, representation).max(axis=-1), rtol=1e-6)
    assert axes[2].get_xlabel() == "Frame"
    plt.close(fig)


def test_magnitudes_never_average_complex_values():
    # two channels in opposite phase: their complex mean is zero, their magnitudes are not
    image = np.zeros((3, 2, 4), "float32")
    image[..., 0], image[..., 2] = 1.0, -1.0
    np.testing.assert_allclose(magnitudes(image).mean(axis=-1), 1.0)
    first = np.moveaxis(image, -1, 0)
    np.testing.assert_allclose(magnitudes(first, data_format="channels_first"), magnitudes(image))
    with pytest.raises(ValueError, match="one image"):
        magnitudes(image[None])


def test_waveform_stack_mean_and_channel(tone, tmp_path):
    fig, axes = plt.subplots(3)
    stacked = plot_waveform(axes[0], tone, sample_rate=8000)
    mean = plot_waveform(axes[1], tone, mode="mean")
    one = plot_waveform(axes[2], to_numpy(tone), channel=1)
    fig.savefig(tmp_path / "w.png")
    assert len(stacked) == 2
    np.testing.assert_allclose(stacked[0].get_ydata(), tone[:, 0], rtol=1e-6)
    assert stacked[1].get_ydata().max() < stacked[0].get_ydata().min()  # drawn below
    assert stacked[0].get_xdata()[-1] == pytest.approx(7999 / 8000)
    np.testing.assert_allclose(mean[0].get_ydata(), tone.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(one[0].get_ydata(), tone[:, 1])
    with pytest.raises(ValueError, match="channel 2 does not exist"):
        plot_waveform(axes[0], tone, channel=2)
    plt.close(fig)


def test_save_wav_round_trip_and_subtypes(tone, tmp_path):
    save_wav(tmp_path / "a.wav", tone * 0.5, 8000)
    back, rate = soundfile.read(tmp_path / "a.wav", dtype="float32")
    assert rate == 8000 and back.shape == tone.shape
    np.testing.assert_allclose(back, tone * 0.5, atol=1 / 2**15)
    save_wav(tmp_path / "mono.wav", tone[:, 0], 8000, subtype="FLOAT")
    np.testing.assert_array_equal(soundfile.read(tmp_path / "mono.wav", dtype="float32")[0], tone[:, 0])
    assert soundfile.info(tmp_path / "mono.wav").subtype == "FLOAT"


def test_save_wav_clips_pcm_with_a_warning(tmp_path):
    with pytest.warns(UserWarning, match="2 samples outside"):
        save_wav(tmp_path / "c.wav", np.array([0.5, 1.5, -2.0]), 8000)
    np.testing.assert_allclose(soundfile.read(tmp_path / "c.wav")[0], [0.5, 1.0, -1.0], atol=1e-4)


def test_save_wav_refuses_nan_and_writes_nothing(tmp_path):
    (tmp_path / "keep.wav").write_bytes(b"old")
    with pytest.raises(ValueError, match="1 NaN or inf"):
        save_wav(tmp_path / "keep.wav", np.array([0.1, np.nan]), 8000)
    assert (tmp_path / "keep.wav").read_bytes() == b"old"
    with pytest.raises(ValueError, match="sample_rate"):
        save_wav(tmp_path / "x.wav", np.zeros(3), 0)
    with pytest.raises(ValueError, match="subtype") as refusal:
        save_wav(tmp_path / "x.wav", np.zeros(3), 8000, subtype="MP3")
    offered = str(refusal.value).split("pick one of")[1]
    assert "PCM_16" in offered and "MPEG_LAYER_III" not in offered  # only subtypes libsndfile writes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.wav"]  # no temporary left behind


def test_save_wav_subtype_in_lower_case_means_the_same_subtype(tmp_path):
    # libsndfile takes "float" for FLOAT: a FLOAT file keeps values beyond [-1, 1] (they were clipped to 1)
    wave = np.array([0.5, 1.5, -2.0], "float32")
    save_wav(tmp_path / "f.wav", wave, 8000, subtype="float")
    assert soundfile.info(tmp_path / "f.wav").subtype == "FLOAT"
    np.testing.assert_array_equal(soundfile.read(tmp_path / "f.wav", dtype="float32")[0], wave)
    with pytest.warns(UserWarning, match="2 samples outside"):
        save_wav(tmp_path / "p.wav", wave, 8000, subtype="pcm_24")
    np.testing.assert_allclose(soundfile.read(tmp_path / "p.wav")[0], [0.5, 1.0, -1.0], atol=1e-6)


def test_save_wav_names_the_channel_count_when_the_layout_is_wrong(tmp_path):
    # (channels, samples) by mistake is 4000 channels: the subtype is not what is wrong
    with pytest.raises(ValueError, match="cannot write WAV PCM_16 with 4000 channel\\(s\\) at 8000 Hz"):
        save_wav(tmp_path / "x.wav", np.zeros((2, 4000), "float32"), 8000)
    with pytest.raises(ValueError, match="WAV files cannot hold subtype 'VORBIS'"):
        save_wav(tmp_path / "x.wav", np.zeros(8, "float32"), 8000, subtype="VORBIS")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_save_wav_gives_the_file_the_mode_open_would(umask, tmp_path):
    old = os.umask(umask)
    try:
        save_wav(tmp_path / "a.wav", np.zeros(8), 8000)
        (tmp_path / "plain").write_bytes(b"")  # open(path, "wb")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "a.wav").stat().st_mode)
    assert mode == 0o666 & ~umask == stat.S_IMODE((tmp_path / "plain").stat().st_mode)


def test_save_wav_failing_write_leaves_no_file_and_no_temporary(tmp_path, monkeypatch):
    (tmp_path / "keep.wav").write_bytes(b"old")
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError):
        save_wav(tmp_path / "folder", np.zeros(8), 8000)  # written, then the rename fails

    def half_written(file, *args, **kwargs):
        file.write(b"RIFF")
        raise OSError("disk full")

    monkeypatch.setattr(soundfile, "write", half_written)
    for name in ("keep.wav", "new.wav"):
        with pytest.raises(OSError, match="disk full"):
            save_wav(tmp_path / name, np.zeros(8), 8000)
    assert (tmp_path / "keep.wav").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["folder", "keep.wav"]


def test_plotting_without_matplotlib_names_the_extra():
    code = (
        "import sys; sys.modules['matplotlib'] = None; sys.modules['matplotlib.figure'] = None\n"
        "import keras_spectro as ks\n"
        "try:\n    ks.utils.new_figure()\nexcept ImportError as error:\n    print(error)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert 'pip install "keras_spectro[plot]"' in run.stdout


def test_figures_leave_the_matplotlib_backend_alone(tmp_path):
    backend = matplotlib.get_backend()
    figure = ks.utils.new_figure(figsize=(4, 2))
    ks.utils.plot_waveform(figure.subplots(), np.zeros((100, 2), "float32"))
    figure.savefig(tmp_path / "w.png")
    assert (tmp_path / "w.png").stat().st_size > 0 and matplotlib.get_backend() == backend
