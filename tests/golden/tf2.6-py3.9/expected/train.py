"""Train a small CNN on MNIST-shaped data: a starting point for mnist-metal.

Written once by `envgen new`; it is yours to change. It makes its own data (no download),
logs to TensorBoard (./logs) when TensorBoard is installed and saves checkpoints (./checkpoints).
Run it inside the environment: `python train.py --epochs 3`, then `tensorboard --logdir logs`.
"""

import argparse
import importlib.util
import os

import numpy as np
import tensorflow as tf


def make_digits(samples, seed=0):
    """Ten classes of 28x28 images: a fixed random stroke pattern per class plus noise.

    The class patterns are the same for every call; ``seed`` only draws other samples, so a
    validation set made with another seed is the same task, not ten new classes.
    """
    patterns = (np.random.default_rng(2021).random((10, 28, 28)) > 0.8).astype("float32")
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=samples)
    images = patterns[labels] + 0.3 * rng.standard_normal((samples, 28, 28)).astype("float32")
    return images[..., np.newaxis].clip(0.0, 1.0), labels.astype("int64")


def build_model():
    return tf.keras.Sequential([
        tf.keras.Input(shape=(28, 28, 1)),
        tf.keras.layers.Conv2D(32, 3, activation="relu"),
        tf.keras.layers.MaxPooling2D(),
        tf.keras.layers.Conv2D(64, 3, activation="relu"),
        tf.keras.layers.MaxPooling2D(),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(128, activation="relu"),
        tf.keras.layers.Dense(10, activation="softmax"),
    ])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    for gpu in tf.config.list_physical_devices("GPU"):
        # Metal shares memory with the rest of the Mac: grow as needed instead of grabbing it all.
        tf.config.experimental.set_memory_growth(gpu, True)
    print("GPUs:", tf.config.list_physical_devices("GPU") or "none (training on the CPU)")

    x_train, y_train = make_digits(args.samples, seed=0)
    x_val, y_val = make_digits(max(args.samples // 5, 100), seed=1)

    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    os.makedirs("checkpoints", exist_ok=True)
    callbacks = [
        tf.keras.callbacks.ModelCheckpoint(
            "checkpoints/epoch-{epoch:02d}.weights.h5", save_weights_only=True
        ),
    ]
    # TensorFlow 2.21 no longer installs TensorBoard: log to it only when it is there.
    if importlib.util.find_spec("tensorboard") is not None:
        callbacks.append(tf.keras.callbacks.TensorBoard(log_dir="logs"))
    else:
        print("TensorBoard is not installed: skipped the ./logs TensorBoard logs (add tensorboard to packages.pip in envgen.toml)")
    history = model.fit(
        x_train, y_train,
        validation_data=(x_val, y_val),
        epochs=args.epochs,
        batch_size=args.batch_size,
        callbacks=callbacks,
    )
    print("final validation accuracy: %.3f" % history.history["val_accuracy"][-1])


if __name__ == "__main__":
    main()
