"""What two examples share: noisy/clean file pairs cut from the test recordings, as a user's data set would be."""

import pathlib

import keras_spectro as ks

DATA = pathlib.Path(__file__).resolve().parents[1] / "tests" / "data"
RATE, SEGMENT = 44100, 22050


def write_pairs(out_dir, segments):
    """Half-second noisy/clean segment files of the test recordings, as a user's data set would be."""
    pairs = {"noisy": [], "clean": []}
    for kind, name in (("noisy", "voice_stereo_noisy_44k.wav"), ("clean", "voice_stereo_16bit_44k.wav")):
        wave = ks.audio.load_audio(DATA / name, sample_rate=RATE)
        (out_dir / kind).mkdir(parents=True, exist_ok=True)
        for i in range(min(segments, len(wave) // SEGMENT)):
            pairs[kind].append(out_dir / kind / f"{i:03d}.wav")
            ks.utils.save_wav(pairs[kind][-1], wave[i * SEGMENT : (i + 1) * SEGMENT], RATE, subtype="FLOAT")
    return pairs["noisy"], pairs["clean"]
