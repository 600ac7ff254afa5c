"""`process_files` against a loop of `process_file`: 60 stereo 16 kHz recordings of 0.5-4 s (issue 29).

    python benchmarks/many_files.py            # every backend, each in its own process

The model is the denoise example's (`examples/denoise.py`: STFT n_fft 512, hop 256, mag_phase,
a dilated convolutional mask network; untrained weights, seeded, cost the same). Each backend's
process times, on fresh copies of one model: a loop of `process_file` over the files, one at a
time (every new length is a new shape), then `process_files` over the folder (batches of 8,
recordings padded to a few shared lengths). Both times include what compiling there is, as a user
meets it; the files are written (FLOAT: the untrained mask may exceed 1) to a temporary folder. Prints a table and the machine's load.
"""

import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile

HERE = pathlib.Path(__file__).resolve().parent
RATE, COUNT = 16000, 60


def corpus(folder):
    """60 stereo PCM_16 recordings of 0.5 to 4 s: tones in noise, random lengths (seeded)."""
    rng = np.random.default_rng(0)
    for i in range(COUNT):
        samples = int(rng.uniform(0.5, 4.0) * RATE)  # any length: the STFT takes every one
        t = np.arange(samples)[:, None] / RATE
        wave = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 1000, 2) * t) + 0.05 * rng.standard_normal((samples, 2))
        soundfile.write(folder / f"{i:02d}.wav", wave, RATE, subtype="PCM_16")


def measure(folder, out):
    """In a backend's process: the two timings, as one JSON line."""
    sys.path.insert(0, str(HERE.parent / "examples"))
    import keras
    from denoise import HOP, N_FFT, mask_network

    import keras_spectro as ks

    keras.utils.set_random_seed(0)
    to_images = ks.SpectrogramPipeline(
        [ks.STFTSplit(n_fft=N_FFT, hop_length=HOP, representation="mag_phase")], sample_rate=RATE
    )
    model = keras.Sequential(
        [keras.Input((None, 2)), ks.SpectrogramDomain(to_images, network=mask_network(N_FFT // 2 + 1, 2))]
    )
    model.save(out / "model.keras")
    fresh = lambda: keras.models.load_model(out / "model.keras")  # no compiled function carried over
    sources = sorted(folder.glob("*.wav"))
    (out / "loop").mkdir()
    loop_model = fresh()
    start = time.perf_counter()
    for path in sources:
        ks.audio.process_file(loop_model, path, out / "loop" / path.name, subtype="FLOAT", verbose=0)
    loop = time.perf_counter() - start
    files_model = fresh()
    start = time.perf_counter()
    rows = ks.audio.process_files(files_model, folder, out / "files", batch_size=8, subtype="FLOAT", verbose=0)
    many = time.perf_counter() - start
    assert all(row["status"] == "done" for row in rows), rows
    padded = sorted({row["padded_to"] or 0 for row in rows})
    print(json.dumps({"loop": loop, "files": many, "audio": sum(row["seconds"] for row in rows), "lengths": padded}))


def main():
    with tempfile.TemporaryDirectory() as temporary:
        folder = pathlib.Path(temporary) / "in"
        folder.mkdir()
        corpus(folder)
        load = os.getloadavg()
        print(
            f"### process_files vs a loop of process_file — {COUNT} stereo 16 kHz recordings of 0.5-4 s, "
            f"the denoise example's network; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"{time.strftime('%Y-%m-%d %H:%M')}, load average before {load[0]:.2f}"
        )
        print("| backend | audio s | loop of process_file s (x real time) | process_files s (x real time) | speed-up |")
        print("|---|---|---|---|---|")
        for backend in ("tensorflow", "torch", "jax"):
            out = pathlib.Path(temporary) / backend
            out.mkdir()
            env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
            done = subprocess.run(
                [sys.executable, __file__, "measure", str(folder), str(out)],
                env=env,
                capture_output=True,
                text=True,
            )
            if done.returncode:
                errors = [line for line in done.stderr.splitlines() if "Error" in line and not line.startswith(" ")]
                print(f"| {backend} | failed: {(errors or done.stderr.strip().splitlines())[-1]} | | | |")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"| {backend} | {r['audio']:.1f} | {r['loop']:.1f} ({r['audio'] / r['loop']:.1f}x) | "
                f"{r['files']:.1f} ({r['audio'] / r['files']:.1f}x) | {r['loop'] / r['files']:.2f}x |"
            )
        print(f"\nload average after: {os.getloadavg()[0]:.2f} (other work on this machine shares its cores)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["measure"]:
        measure(pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3]))
    else:
        main()
