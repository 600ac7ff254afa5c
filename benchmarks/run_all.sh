#!/usr/bin/env bash
# Runs every benchmark on every backend and writes benchmarks/results.md (takes about 50 minutes on 2 cores: the Griffin-Lim benchmark alone runs librosa for minutes).
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python}
{
  echo "# Benchmark results, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m)"
  for backend in tensorflow torch jax; do
    for script in files_to_images.py images_to_audio.py raw_ops.py eager.py streaming.py tf_data_map.py adapt_memory.py accuracy.py any_length.py dft_speed.py magnitude_quality.py griffin_lim.py; do
      KERAS_BACKEND=$backend TF_CPP_MIN_LOG_LEVEL=3 "$python" "$script" 2>/dev/null | grep -E '^(#|\|)' ||
        echo "| $script failed under $backend: run it alone to see why |"
    done
  done
  "$python" fit_overhead.py  # its own subprocess per backend
  "$python" mixtures.py  # likewise
} | tee results.md
