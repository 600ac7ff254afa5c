"""4. adapt() over files 20x one batch: peak RSS stays near one batch's, time grows linearly.

Each measurement runs in a fresh process (peak RSS cannot be reset within one).
"""

import json
import os
import resource
import subprocess
import sys
import time

BATCH = 8


def measure(batches):
    """In this process: adapt a pipeline on `batches` batches of files; report time and peak RSS."""
    import keras_spectro as ks

    from common import HOP, N_FFT, wav_files

    files = wav_files(BATCH * batches)
    data = ks.audio.AudioFileDataset(files, batch_size=BATCH)
    pipeline = ks.SpectrogramPipeline(
        [ks.STFTSplit(n_fft=N_FFT, hop_length=HOP), ks.SpectrogramScaler("standard", axis="channels")]
    )
    pipeline.adapt(data[0])  # warm-up (compilation, first allocations) on one batch
    start = time.perf_counter()
    pipeline.adapt(data)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "batches": batches,
                "seconds": seconds,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) > 1:
        measure(int(sys.argv[1]))
        sys.exit()
    from common import header, wav_files

    wav_files(BATCH * 20)
    results = {}
    for batches in (1, 5, 10, 20):
        out = subprocess.run(
            [sys.executable, __file__, str(batches)], capture_output=True, text=True, check=True, env=os.environ
        )
        results[batches] = json.loads(out.stdout.strip().splitlines()[-1])
    columns = ("batches", "seconds", "seconds per batch", "peak RSS MB", "RSS vs 1 batch")
    header(f"adapt() on 1 to 20 batches of {BATCH} stereo 5 s files (fresh process each)", columns)
    for batches, r in results.items():
        print(
            f"| {batches} | {r['seconds']:.2f} | {r['seconds'] / batches:.3f} | {r['peak_rss_mb']:.0f} | {r['peak_rss_mb'] / results[1]['peak_rss_mb']:.2f}x |"
        )
