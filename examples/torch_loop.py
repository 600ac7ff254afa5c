"""A plain PyTorch training loop fed by keras_spectro: images made by the pipeline, batches moved to a device.

python examples/torch_loop.py [-o OUT_DIR] [--device cuda] [--quick]
"""

import argparse
import itertools
import pathlib

import torch

import keras_spectro as ks

from _pairs import RATE, mixtures  # examples/_pairs.py


def main(out_dir, steps, device):
    to_images = ks.SpectrogramPipeline(
        [ks.STFTSplit(n_fft=512, hop_length=128), ks.SpectrogramScaler("standard")], sample_rate=RATE
    )
    to_images.adapt(mixtures(pathlib.Path(out_dir), batches=2))  # on noisy mixtures
    data = mixtures(
        pathlib.Path(out_dir), batches=2, seed=1, pipeline=to_images
    )  # noisy → clean images, new every pass
    batches = ks.audio.TorchBatches(data, device=device, repeat=True)  # endless, one batch on the device at a time

    channels = data[0][0].shape[-1]  # images are (batch, bins, frames, channels): channels_last
    net = torch.nn.Sequential(
        torch.nn.Conv2d(channels, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, channels, 3, padding=1)
    ).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for noisy_images, clean_images in itertools.islice(batches, steps):
        prediction = net(noisy_images.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        loss = torch.nn.functional.mse_loss(prediction, clean_images)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    print(f"torch loop on {device}: {steps} steps, loss {losses[0]:.4f} -> {losses[-1]:.4f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-o", "--output", default="torch_loop_out")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    main(args.output, 4 if args.quick else 60, args.device)
