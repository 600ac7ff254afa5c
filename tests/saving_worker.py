"""Loads a saved model under the backend in KERAS_BACKEND and writes its output (run by test_saving)."""

import sys

import keras
import numpy as np

import keras_spectro  # noqa: F401  registers the layers

model_path, inputs_path, output_path = sys.argv[1:]
model = keras.models.load_model(model_path)  # safe_mode is on; no custom_objects
np.save(output_path, keras.ops.convert_to_numpy(model.predict(np.load(inputs_path), verbose=0)))
