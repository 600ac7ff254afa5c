"""GPU throughput (issue 23): the layers against the backend's raw ops, and a jitted training step.

    python benchmarks/gpu.py [--backends tensorflow torch jax] [--quick] [--allow-cpu] [--output FILE]

Per backend, in a subprocess, on the first GPU of the backend's CUDA build: forward
(`STFTSplit`) and inverse (`InverseSTFTSplit`) throughput in audio samples per second for
n_fft 512-4096 (hop n_fft / 4), batch x channels 1-256 (stereo from 2 up; 65536 samples each),
`dft="fft"` and `"matmul"`, eager calls with the input already on the device, against the raw
ops (`torch.stft` / `torch.istft`, `tf.signal.stft` / `inverse_stft` under XLA, a jitted
`jnp.fft` STFT); then one jitted training step (`train_on_batch`, `jit_compile=True`) of a small
`SpectrogramDomain` model against the same network on precomputed images. Writes a markdown
table (`--output`, default benchmarks/gpu_results.md) and prints it. Without a GPU a backend
reports "no GPU" and the command exits 0 (`--allow-cpu` measures on the CPU anyway, to check
the script; `--quick` is a tiny configuration).
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
SAMPLES = 65536


def configs(quick):
    if quick:
        return [512], [1, 2], 2048, 3
    return [512, 1024, 2048, 4096], [1, 2, 16, 64, 256], SAMPLES, 10


def gpu_device(backend):
    """The name of the backend's first GPU, or None."""
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return gpus[0].name if gpus else None
    import jax

    try:
        return str(jax.devices("gpu")[0])
    except RuntimeError:
        return None


class Ops:
    """Backend glue: put on the device, wait for a result, the raw STFT and inverse."""

    def __init__(self, backend, gpu):
        self.backend = backend
        self.gpu = gpu
        if backend == "torch":
            import torch

            self.device = torch.device("cuda" if gpu else "cpu")

    def put(self, x):
        if self.backend == "torch":
            import torch

            return torch.as_tensor(x, device=self.device)
        if self.backend == "tensorflow":
            import tensorflow as tf

            with tf.device("/GPU:0" if self.gpu else "/CPU:0"):
                return tf.identity(tf.constant(x))
        import jax

        return jax.device_put(x, jax.devices("gpu" if self.gpu else "cpu")[0])

    def wait(self, y):
        if isinstance(y, (int, float)):  # a loss already read back
            return
        if isinstance(y, (tuple, list)):
            for part in y:
                self.wait(part)
            return
        if self.backend == "torch":
            import torch

            if self.gpu:
                torch.cuda.synchronize()
        elif self.backend == "tensorflow":
            import tensorflow as tf

            tf.reduce_sum(tf.abs(y[..., :1])).numpy()  # a tiny read: the op has finished
        else:
            y.block_until_ready()

    def raw(self, n_fft, hop, window):
        """(forward(x), inverse(z), z of forward) for `x` `(rows, samples)` on the device."""
        if self.backend == "torch":
            import torch

            win = torch.as_tensor(window, device=self.device)
            forward = lambda x: torch.stft(x, n_fft, hop, window=win, return_complex=True)  # noqa: E731
            inverse = lambda z: torch.istft(z, n_fft, hop, window=win, length=self.samples)  # noqa: E731
            return forward, inverse
        if self.backend == "tensorflow":
            import tensorflow as tf

            window_fn = lambda length, dtype: tf.constant(window)  # noqa: E731
            inverse_window = tf.signal.inverse_stft_window_fn(hop, forward_window_fn=window_fn)
            forward = tf.function(lambda x: tf.signal.stft(x, n_fft, hop, window_fn=window_fn), jit_compile=True)
            inverse = tf.function(
                lambda z: tf.signal.inverse_stft(z, n_fft, hop, window_fn=inverse_window), jit_compile=True
            )
            return forward, inverse
        import jax
        import jax.numpy as jnp

        win = jnp.asarray(window)

        @jax.jit
        def forward(x):
            frames = 1 + (x.shape[-1] - n_fft) // hop
            index = jnp.arange(frames)[:, None] * hop + jnp.arange(n_fft)[None, :]
            return jnp.fft.rfft(x[..., index] * win, axis=-1)

        @jax.jit
        def inverse(z):
            frames = z.shape[-2]
            index = jnp.arange(frames)[:, None] * hop + jnp.arange(n_fft)[None, :]
            segments = jnp.fft.irfft(z, n_fft, axis=-1) * win
            out = jnp.zeros(z.shape[:-2] + ((frames - 1) * hop + n_fft,), "float32")
            return out.at[..., index].add(segments)  # (no window-sum division: the raw op's lower bound)

        return forward, inverse


def timed(fn, ops, repeats):
    ops.wait(fn())  # compiles
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        ops.wait(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def throughput_rows(backend, ops, quick):
    import keras
    import numpy as np

    import keras_spectro as ks

    n_ffts, rows_list, samples, repeats = configs(quick)
    ops.samples = samples
    rng = np.random.default_rng(0)
    results = []
    for n_fft in n_ffts:
        hop = n_fft // 4
        window = np.hanning(n_fft + 1)[:-1].astype("float32")
        raw_forward, raw_inverse = ops.raw(n_fft, hop, window)
        for rows in rows_list:
            channels = 1 if rows == 1 else 2
            batch = rows // channels
            waves = rng.standard_normal((batch, samples, channels)).astype("float32")
            x = ops.put(waves)
            flat = ops.put(np.ascontiguousarray(np.moveaxis(waves, -1, 1)).reshape(rows, samples))
            total = rows * samples
            z = raw_forward(flat)
            line = {"n_fft": n_fft, "rows": rows}
            line["raw forward"] = total / timed(lambda: raw_forward(flat), ops, repeats)  # noqa: B023
            line["raw inverse"] = total / timed(lambda: raw_inverse(z), ops, repeats)  # noqa: B023
            for dft in ("fft", "matmul"):
                stft = ks.STFTSplit(n_fft=n_fft, hop_length=hop, dft=dft)
                inverse = stft.inverse()
                image = stft(x)
                line[f"{dft} forward"] = total / timed(lambda: stft(x), ops, repeats)  # noqa: B023
                line[f"{dft} inverse"] = total / timed(lambda: inverse(image), ops, repeats)  # noqa: B023
            results.append(line)
            keras.backend.clear_session()
    return results


def training_step(ops, quick):
    """Seconds per jitted `train_on_batch`: (SpectrogramDomain model, the same network on images)."""
    import keras
    import numpy as np

    import keras_spectro as ks

    samples, batch = (2048, 2) if quick else (16000, 16)
    rng = np.random.default_rng(1)
    waves = rng.standard_normal((batch, samples, 2)).astype("float32")

    def net():
        return keras.Sequential(
            [keras.layers.Conv2D(16, 3, padding="same", activation="relu"), keras.layers.Conv2D(4, 3, padding="same")]
        )

    stft = ks.STFTSplit(n_fft=512, hop_length=128)
    images = keras.ops.convert_to_numpy(stft(waves))
    domain = keras.Sequential([keras.Input((samples, 2)), ks.SpectrogramDomain(ks.SpectrogramPipeline([stft]), net())])
    plain = keras.Sequential([keras.Input(images.shape[1:]), net()])
    out = {}
    for name, model, x in (("domain", domain, waves), ("images", plain, images)):
        model.compile(optimizer="adam", loss="mse", jit_compile=True)
        x = ops.put(x)
        out[name] = timed(lambda: model.train_on_batch(x, x), ops, 3 if quick else 20)  # noqa: B023
    return out


def worker(backend, quick, allow_cpu):
    gpu = gpu_device(backend)
    if gpu is None and not allow_cpu:
        print("RESULT " + json.dumps({"gpu": None}))
        return
    ops = Ops(backend, gpu is not None)
    result = {"gpu": gpu or "CPU (--allow-cpu)"}
    result["throughput"] = throughput_rows(backend, ops, quick)
    result["training"] = training_step(ops, quick)
    print("RESULT " + json.dumps(result))


def table(backend, result):
    if result.get("gpu") is None:
        return f"\n### {backend}: no GPU\n"
    lines = [
        f"\n### {backend} on {result['gpu']}: million samples/s (layer / raw op)\n",
        "| n_fft | batch x channels | raw forward | fft forward | matmul forward | raw inverse | fft inverse | matmul inverse |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["throughput"]:
        m = {k: v / 1e6 for k, v in r.items() if isinstance(v, float)}
        lines.append(
            f"| {r['n_fft']} | {r['rows']} | {m['raw forward']:.1f} | {m['fft forward']:.1f} ({m['fft forward'] / m['raw forward']:.2f}) "
            f"| {m['matmul forward']:.1f} ({m['matmul forward'] / m['raw forward']:.2f}) | {m['raw inverse']:.1f} "
            f"| {m['fft inverse']:.1f} ({m['fft inverse'] / m['raw inverse']:.2f}) "
            f"| {m['matmul inverse']:.1f} ({m['matmul inverse'] / m['raw inverse']:.2f}) |"
        )
    t = result["training"]
    lines.append(
        f"\nJitted training step: SpectrogramDomain model {t['domain'] * 1e3:.2f} ms, network on precomputed "
        f"images {t['images'] * 1e3:.2f} ms, ratio {t['domain'] / t['images']:.2f}\n"
    )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "torch", "jax"])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--allow-cpu", action="store_true")
    parser.add_argument("--output", default=str(HERE / "gpu_results.md"))
    parser.add_argument("--timeout", type=int, default=1800)
    args = parser.parse_args()
    report = [f"# GPU benchmark, {time.strftime('%Y-%m-%d')}"]
    for backend in args.backends:
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        flags = [backend, str(args.quick), str(args.allow_cpu)]
        try:
            out = subprocess.run(
                [sys.executable, __file__, "--worker", *flags],
                env=env,
                capture_output=True,
                text=True,
                timeout=args.timeout,
            )
        except subprocess.TimeoutExpired:
            part = f"\n### {backend}: timed out after {args.timeout} s\n"
        else:
            found = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
            if found:
                part = table(backend, json.loads(found[0][7:]))
            else:
                part = f"\n### {backend}: failed\n\n```\n{out.stderr.strip()[-2000:]}\n```\n"
        print(part, flush=True)
        report.append(part)
    if args.output and args.output != "-":
        pathlib.Path(args.output).write_text("\n".join(report) + "\n")
        print(f"(written to {args.output})")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2], sys.argv[3] == "True", sys.argv[4] == "True")
    else:
        main()
