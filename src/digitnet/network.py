"""A trained network as one self-contained file: weights, activation and input scaling.

Saved as a plain .npz (never a pickle), so a model can be loaded anywhere NumPy runs and
applied to raw workbook pixels: the scaling fitted at training time travels with the weights.
A convolutional network (convnet.py) also keeps its image side, padding and pooling; its
kernels are the 4-D arrays that lead `weights`.
"""

from dataclasses import dataclass

import numpy as np

from digitnet import nn
from digitnet.artifacts import load_npz, save_npz
from digitnet.convnet import ConvNet
from digitnet.preprocess import apply_scaler


@dataclass
class Network:
    weights: list
    biases: list
    activation: str
    shift: np.ndarray  # input scaling: (X - shift) / scale
    scale: np.ndarray
    output: str = "sigmoid"  # output layer: sigmoid per class, or softmax
    image_side: int | None = None  # a convolutional network's input images; None: dense
    padding: str = "valid"  # of every convolution
    pool: int = 1  # max-pooling after every convolution; 1 = none

    @property
    def layer_sizes(self):
        """[n_features, the dense layers' fan-ins ..., n_classes]; for a convolutional network,
        the first fan-in is that of its flattened feature maps."""
        dense = [W for W in self.weights if W.ndim == 2]
        inputs = [self.image_side**2] if self.image_side else []
        return [*inputs, *(W.shape[0] for W in dense), dense[-1].shape[1]]

    def convnet(self):
        """The network as convnet.ConvNet (None for a dense network)."""
        if self.image_side is None:
            return None
        return ConvNet(
            self.weights,
            self.biases,
            self.activation,
            self.output,
            self.padding,
            self.pool,
            self.image_side,
        )

    def scaled(self, X):
        """Raw pixels X, shape (n_samples, n_features), scaled as the network was trained."""
        return apply_scaler(X, self.shift, self.scale)

    def predict_proba(self, X):
        """Output scores, shape (n_samples, n_classes), for raw (unscaled) pixels X."""
        if self.image_side is not None:
            return self.convnet().predict_proba(self.scaled(X))
        return nn.predict_proba(
            self.scaled(X), self.weights, self.biases, self.activation, self.output
        )

    def predict(self, X):
        return np.argmax(self.predict_proba(X), axis=1)


def save(path, network):
    arrays = {f"W{i}": W for i, W in enumerate(network.weights)}
    arrays |= {f"b{i}": b for i, b in enumerate(network.biases)}
    if network.image_side is not None:
        arrays |= {
            "image_side": np.array(network.image_side),
            "padding": np.array(network.padding),
            "pool": np.array(network.pool),
        }
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
        **_convolutions(arrays),
    )


def _convolutions(arrays):
    """A convolutional network's image side, padding and pooling, as `Network` takes them."""
    if "image_side" not in arrays:
        return {}
    return {
        "image_side": int(arrays["image_side"]),
        "padding": str(arrays["padding"]),
        "pool": int(arrays["pool"]),
    }
