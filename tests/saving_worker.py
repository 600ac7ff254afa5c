"""Loads every `NAME.keras` of a folder under the backend in KERAS_BACKEND (run by test_saving).

`python saving_worker.py FOLDER`: predicts each model on `NAME.inputs.npz` (its inputs in order) and
writes `NAME.KERAS_BACKEND.npy`, or `NAME.KERAS_BACKEND.error` (the traceback) and goes on.
"""

import pathlib
import sys
import traceback

import keras
import numpy as np

import keras_spectro  # noqa: F401  registers the layers

folder = pathlib.Path(sys.argv[1])
backend = keras.backend.backend()
for path in sorted(folder.glob("*.keras")):
    try:
        # safe_mode is on; no custom_objects; not compiled (a JAX-saved jit_compile=True would be torch.compile)
        model = keras.models.load_model(path, compile=False)
        with np.load(folder / f"{path.stem}.inputs.npz") as saved:
            inputs = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        outputs = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
        np.save(folder / f"{path.stem}.{backend}.npy", keras.ops.convert_to_numpy(outputs))
    except Exception:
        (folder / f"{path.stem}.{backend}.error").write_text(traceback.format_exc())
