"""Helpers of test_distributed: a user's own mergeable layer, a layer that kills its worker once, and a two-device training run.

`python distributed_worker.py jax|tensorflow` trains a model holding a SpectrogramDomain for
two steps on two host devices (JAX `keras.distribution.DataParallel`, TF `MirroredStrategy`)
and prints one JSON line: the replica count, the losses, and whether the statistics held.
"""

import json
import os
import sys

if __name__ == "__main__":  # before Keras is imported
    os.environ["KERAS_BACKEND"] = sys.argv[1]
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import keras
import numpy as np

import keras_spectro as ks


@keras.saving.register_keras_serializable(package="tests")
class RMSGain(ks.InvertibleLayer):
    """A user's own adaptable step with the partial-state protocol: divides by the RMS seen in adapt()."""

    def build(self, input_shape):
        self.rms = self.add_weight(name="rms", shape=(), initializer="ones", trainable=False)

    def call(self, x):
        return x / self.convert_weight(self.rms)

    def inverse_call(self, y):
        return y * self.convert_weight(self.rms)

    def partial_state(self, batches):
        squares, count = 0.0, 0
        for batch in batches:
            batch = np.asarray(keras.ops.convert_to_numpy(batch), "float64")
            squares, count = squares + np.square(batch).sum(), count + batch.size
        return {"squares": squares, "count": count}

    def merge_states(self, states):
        return {key: sum(state[key] for state in states) for key in ("squares", "count")}

    def load_state(self, state):
        if not self.built:
            self.build(None)
        self.rms.assign(np.sqrt(state["squares"] / state["count"]))


@keras.saving.register_keras_serializable(package="tests")
class DiesOnce(keras.layers.Layer):
    """The identity, except that the first other process than `driver` to run it dies (after leaving `marker`)."""

    def __init__(self, marker, driver, **kwargs):
        super().__init__(**kwargs)
        self.marker, self.driver = marker, driver

    def call(self, waves):
        if os.getpid() != self.driver and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)
        return waves

    def get_config(self):
        return {**super().get_config(), "marker": self.marker, "driver": self.driver}


def setup():
    """A Ray worker's setup hook: importing this module has registered its layers."""


def train_two_steps(backend):
    rng = np.random.default_rng(0)
    clean = (np.sin(np.arange(2000) * 0.05)[None, :, None] * rng.uniform(0.2, 1.0, (8, 1, 2))).astype("float32")
    noisy = (clean + 0.05 * rng.standard_normal(clean.shape)).astype("float32")

    def build_model():
        pipeline = ks.SpectrogramPipeline(
            [ks.STFTSplit(n_fft=128, hop_length=32), ks.SpectrogramScaler("standard", axis="channels")]
        )
        pipeline.adapt(noisy, batch_size=4)
        network = keras.Sequential(
            [
                keras.Input((65, None, 4)),
                keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
                keras.layers.Conv2D(4, 3, padding="same"),
            ]
        )
        model = keras.Sequential([keras.Input((None, 2)), ks.SpectrogramDomain(pipeline, network)])
        model.compile(optimizer="adam", loss="mse")
        return model, pipeline.layers[1]

    if backend == "jax":
        devices = keras.distribution.list_devices("cpu")
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        model, scaler = build_model()
        replicas = len(model.layers[0].network.weights[0].value.sharding.device_set)
    else:
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
        with strategy.scope():
            model, scaler = build_model()
        replicas = strategy.num_replicas_in_sync
    mean = np.array(scaler.mean.numpy())
    losses = []
    record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: losses.append(float(logs["loss"])))
    model.fit(noisy, clean, batch_size=4, epochs=1, verbose=0, callbacks=[record])
    kept = bool(np.array_equal(np.array(scaler.mean.numpy()), mean))
    return {"replicas": replicas, "losses": losses, "statistics_kept": kept}


if __name__ == "__main__":
    print(json.dumps(train_two_steps(sys.argv[1])))
