"""Before/after in one run (issue 23): two checkouts of keras_spectro, measured alternately in subprocesses.

    python benchmarks/before_after.py BASE_TREE NEW_TREE [--rounds 3] [--backends tensorflow torch jax]

Each round runs one worker per tree and backend (base, new, base, new, ...): eager `STFTSplit` and
`InverseSTFTSplit` on 8 stereo 5 s clips at 44.1 kHz (n_fft 1024, hop 256), the backend's fastest
raw op (benchmarks/eager.py), a float32 per-file `librosa.istft` loop and, where
`SPECTROGRAM_UTILS` names a folder holding the old SpectrogramUtils package (0.4.7, pure Python),
its images → audio. Prints the medians over rounds as ratios (a noisy shared machine: only
ratios taken within one run mean anything).
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent


def worker():
    sys.path.insert(0, str(HERE))
    import librosa
    import numpy as np
    from eager import fastest, raw_ops, timed

    import keras_spectro as ks

    from common import HOP, N_FFT, RATE, SECONDS, numpy_of, wav_files

    waves = np.stack([ks.audio.load_audio(f) for f in wav_files(8)])  # (8, samples, 2)
    signals = np.ascontiguousarray(np.moveaxis(waves, -1, 1))
    window = np.hanning(N_FFT + 1)[:-1].astype("float32")
    stft = ks.STFTSplit(n_fft=N_FFT, hop_length=HOP)
    inverse = stft.inverse()
    images = numpy_of(stft(waves))
    forward_ops, inverse_ops = raw_ops(signals, window)
    spectra = (images[..., 0::2] + 1j * images[..., 1::2]).astype("complex64")

    def librosa_audio():
        return [
            librosa.istft(np.moveaxis(s, -1, 0), hop_length=HOP, n_fft=N_FFT, length=RATE * SECONDS) for s in spectra
        ]

    times = {
        "layer_forward": timed(lambda: numpy_of(stft(waves))),
        "raw_forward": fastest(forward_ops)[1],
        "layer_inverse": timed(lambda: numpy_of(inverse(images))),
        "raw_inverse": fastest(inverse_ops)[1],
        "librosa_inverse": timed(librosa_audio),
    }
    old = os.environ.get("SPECTROGRAM_UTILS")
    if old:
        sys.path.insert(0, old)
        from SpectrogramUtils import Config, LibrosaSTFTArgs, SpectrogramFactory

        factory = SpectrogramFactory(Config(2, LibrosaSTFTArgs(n_fft=N_FFT, hop_length=HOP), sample_rate=RATE))
        first = np.ascontiguousarray(np.moveaxis(images, -1, 1))  # the old layout (batch, 2 * channels, bins, frames)
        times["old_inverse"] = timed(
            lambda: [s.get_waves() for s in factory.get_spectrogram_from_model_output(first, use_processor=False)]
        )
    print("RESULT " + json.dumps(times))


def run(tree, backend):
    env = dict(os.environ, PYTHONPATH=str(tree), KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, __file__, "--worker"], env=env, capture_output=True, text=True, check=False, cwd=HERE
    )
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"worker failed ({tree}, {backend}):\n{out.stderr[-3000:]}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "torch", "jax"])
    args = parser.parse_args()
    print("| backend | measure | before | after |\n|---|---|---|---|")
    for backend in args.backends:
        runs = {"before": [], "after": []}
        for _ in range(args.rounds):
            runs["before"].append(run(args.base, backend))
            runs["after"].append(run(args.new, backend))
        med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
        rows = [
            ("raw op / `STFTSplit` (≥ 0.77)", lambda t: t["raw_forward"] / t["layer_forward"]),
            ("raw op / `InverseSTFTSplit` (≥ 0.77)", lambda t: t["raw_inverse"] / t["layer_inverse"]),
            ("inverse: librosa loop / ours (≥ 1.2x)", lambda t: t["librosa_inverse"] / t["layer_inverse"]),
        ]
        if "old_inverse" in med["after"]:
            rows.append(
                ("inverse: SpectrogramUtils 0.4.7 / ours (≥ 1.8x)", lambda t: t["old_inverse"] / t["layer_inverse"])
            )
        for name, ratio in rows:
            print(f"| {backend} | {name} | {ratio(med['before']):.2f} | {ratio(med['after']):.2f} |")
        for m in ("layer_forward", "layer_inverse"):
            print(f"| {backend} | {m}: before / after time | | {med['before'][m] / med['after'][m]:.2f}x |")
        sys.stdout.flush()


if __name__ == "__main__":
    worker() if sys.argv[1:] == ["--worker"] else main()
