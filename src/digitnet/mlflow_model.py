"""The network as an MLflow pyfunc model, written as code ("models from code").

MLflow runs this file when it loads a logged model; nothing in digitnet imports it. The weights
travel as the artifact `weights` (the .npz that `network.save` writes, never a pickle), and the
digitnet package travels beside this file as the model's code, so the logged model is all that
`mlflow models serve` or `mlflow.pyfunc.load_model` needs.

Input: raw workbook pixels, one row per example, as a DataFrame or an array of 400 columns in the
workbook's column order (the signature is a (-1, 400) float64 tensor, so column names are not
needed). Output: a DataFrame with `digit` and the scores p0..p9 (see `digitnet.frames`).
A value the network cannot take (NaN, an infinity, one that overflows) is an MlflowException
with INVALID_PARAMETER_VALUE, which the scoring server answers with HTTP 400 and the message:
never NaN in a response, which would not be JSON.
"""

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

from digitnet import frames
from digitnet.errors import InputError
from digitnet.network import load


class DigitModel(PythonModel):
    def load_context(self, context):
        self.network = load(context.artifacts["weights"])

    def predict(self, context, model_input: np.ndarray, params=None) -> pd.DataFrame:
        X = np.asarray(model_input, dtype=np.float64)
        try:
            digits, scores = frames.predict_digits(self.network, X)
        except InputError as exc:
            raise MlflowException(
                f"model input {exc}", error_code=INVALID_PARAMETER_VALUE
            ) from None
        n_classes = scores.shape[1]
        table = pd.DataFrame(scores, columns=frames.score_columns(n_classes))
        table.insert(0, frames.DIGIT, digits.astype(np.int64))
        return table


mlflow.models.set_model(DigitModel())
