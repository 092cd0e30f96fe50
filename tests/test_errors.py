"""A tracking server's refusal of the user is one line that names the server and what to set."""

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import ErrorCode

from digitnet import cli, tracking
from digitnet.errors import AccessError, DigitnetError, refused

SERVER = "http://mlflow.internal:5000"
VARIABLES = "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"


def answer(code):
    """MLflow's exception for an answer of the server with `code`, as its REST client raises."""
    message = "API request to endpoint /api/2.0/mlflow/runs/create failed"
    return MlflowException(message, error_code=ErrorCode.Value(code))


def test_a_refused_password_names_the_server_the_user_and_the_variables():
    error = refused(answer("UNAUTHENTICATED"), SERVER, "alice")
    assert isinstance(error, AccessError)
    assert str(error) == (
        f"the MLflow server {SERVER} refused the password of user alice (HTTP 401): "
        f"set {VARIABLES} to your account there"
    )


def test_a_request_without_a_user_name_says_so():
    assert str(refused(answer("UNAUTHENTICATED"), SERVER)) == (
        f"the MLflow server {SERVER} refused the request without a user name (HTTP 401): "
        f"set {VARIABLES} to your account there"
    )


def test_a_denied_permission_says_whom_to_ask_for_what():
    assert str(refused(answer("PERMISSION_DENIED"), SERVER, "bob")) == (
        f"the MLflow server {SERVER} denied user bob permission for this (HTTP 403): ask its "
        f"admin for EDIT on the experiment, or set {VARIABLES} to an account that has it"
    )


def test_a_refusal_wrapped_in_a_digitnet_error_counts_by_what_it_wrapped():
    try:
        try:
            raise answer("UNAUTHENTICATED")
        except MlflowException:
            raise DigitnetError("MLflow refused: ...") from None
    except DigitnetError as exc:
        wrapped = exc
    assert "refused the password of user alice" in str(refused(wrapped, SERVER, "alice"))


@pytest.mark.parametrize("code", ["INTERNAL_ERROR", "RESOURCE_DOES_NOT_EXIST"])
def test_other_errors_of_mlflow_are_not_refusals(code):
    assert refused(answer(code), SERVER, "alice") is None
    assert refused(DigitnetError("no run"), SERVER) is None


def test_reported_prints_a_refusal_as_one_line_naming_the_store_opened_last(capsys, monkeypatch):
    monkeypatch.setattr(tracking, "last_uri", SERVER)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bob")
    with pytest.raises(SystemExit) as exited, cli.reported():
        raise answer("PERMISSION_DENIED")
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        f"error: the MLflow server {SERVER} denied user bob permission for this (HTTP 403): "
        f"ask its admin for EDIT on the experiment, or set {VARIABLES} to an account that has it\n"
    )


def test_reported_lets_any_other_exception_through():
    with pytest.raises(MlflowException), cli.reported():
        raise answer("INTERNAL_ERROR")
