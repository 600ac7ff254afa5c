#!/usr/bin/env bash
# Regenerates the pictures of docs/gallery.md (and docs/training.md's): runs each example that writes a PNG with
# --quick (the small runs the tests use; denoise.py in full, since a quick run barely trains),
# and `keras-spectro show` on the test speech, then copies the PNGs here.
#
#   bash docs/gallery/make_gallery.sh            # with the package's environment active
#   PYTHON=.venv/bin/python bash docs/gallery/make_gallery.sh
#
# About 1 to 2 minutes on 2 CPU cores (most of it denoise.py). The PNGs are committed (each < 300 KB).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python}
export KERAS_BACKEND=${KERAS_BACKEND:-jax} TF_CPP_MIN_LOG_LEVEL=3 MPLBACKEND=Agg PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
out=docs/gallery
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$PYTHON" examples/quickstart.py --quick -o "$tmp/quickstart"
cp "$tmp/quickstart/quickstart.png" "$out/quickstart.png"

"$PYTHON" examples/mel_roundtrip.py --quick -o "$tmp/mel_roundtrip"
cp "$tmp/mel_roundtrip/mel_roundtrip.png" "$out/mel_roundtrip.png"

"$PYTHON" examples/denoise.py -o "$tmp/denoise"
cp "$tmp/denoise/denoise.png" "$out/denoise.png"

"$PYTHON" -m keras_spectro show tests/data/voice_stereo_16bit_44k.wav -o "$out/show.png"

"$PYTHON" docs/gallery/mixtures.py -o "$out/mixtures.png"  # the picture of docs/training.md

# 256 colours, optimised: each picture a third of matplotlib's RGBA PNG, and under 300 KB
"$PYTHON" - "$out"/*.png <<'PY'
import sys
from PIL import Image
for path in sys.argv[1:]:
    Image.open(path).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)
PY
ls -l "$out"/*.png
