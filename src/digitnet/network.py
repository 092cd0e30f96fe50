"""A trained network as one self-contained file: weights, activation and input scaling.

Saved as a plain .npz (never a pickle), so a model can be loaded anywhere NumPy runs and
applied to raw workbook pixels: the scaling fitted at training time travels with the weights.
"""

from dataclasses import dataclass

import numpy as np

from digitnet import nn
from digitnet.artifacts import load_npz, save_npz
from digitnet.preprocess import apply_scaler


@dataclass
class Network:
    weights: list
    biases: list
    activation: str
    shift: np.ndarray  # input scaling: (X - shift) / scale
    scale: np.ndarray
    output: str = "sigmoid"  # output layer: sigmoid per class, or softmax

    @property
    def layer_sizes(self):
        return [self.weights[0].shape[0]] + [W.shape[1] for W in self.weights]

    def scaled(self, X):
        """Raw pixels X, shape (n_samples, n_features), scaled as the network was trained."""
        return apply_scaler(X, self.shift, self.scale)

    def predict_proba(self, X):
        """Output scores, shape (n_samples, n_classes), for raw (unscaled) pixels X."""
        return nn.predict_proba(
            self.scaled(X), self.weights, self.biases, self.activation, self.output
        )

    def predict(self, X):
        return np.argmax(self.predict_proba(X), axis=1)


def save(path, network):
    arrays = {f"W{i}": W for i, W in enumerate(network.weights)}
    arrays |= {f"b{i}": b for i, b in enumerate(network.biases)}
    save_npz(
        path,
        activation=np.array(network.activation),
        output=np.array(network.output),
        shift=network.shift,
        scale=network.scale,
        **arrays,
    )


def load(path):
    arrays = load_npz(path)
    n_layers = sum(name.startswith("W") for name in arrays)
    return Network(
        weights=[arrays[f"W{i}"] for i in range(n_layers)],
        biases=[arrays[f"b{i}"] for i in range(n_layers)],
        activation=str(arrays["activation"]),
        shift=arrays["shift"],
        scale=arrays["scale"],
        output=str(arrays.get("output", "sigmoid")),  # files from before softmax existed
    )
