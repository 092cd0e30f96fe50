"""`digitnet promote`: a run's model registered and named by an alias, ready to predict and serve.

    digitnet promote [--run ID | --metric NAME [--lowest]] [--name digits] [--alias champion]

By default the run is the best child of the latest sweep: of the newest parent run (tagged
`sweep_id`) in the project's experiment, the FINISHED child with the highest `val_accuracy`;
ties go to the earlier job. Its logged model, found through MLflow's logged models rather than
by artifact path, becomes a version of the registered model, and the alias moves to it, so that
`models:/digits@champion` always means the promoted network. A run's model that is already a
version of that name (promoted before, or registered at training time) is reused, not copied.
"""

import argparse
import json
import sys
from pathlib import Path

from digitnet import cli, tracking
from digitnet.errors import DigitnetError
from digitnet.logged_model import fluent

MODEL_VERSIONS_TAG = "mlflow.modelVersions"  # mlflow.utils.mlflow_tags.MLFLOW_MODEL_VERSIONS

NAME, ALIAS, METRIC = "digits", "champion", "val_accuracy"
SHOWN = ("val_accuracy", "test_accuracy")  # the scores the printed line quotes


def promote(*, uri, experiment, run_id=None, metric=METRIC, lowest=False, name=NAME, alias=ALIAS):
    """Register the model of run `run_id` (by default the latest sweep's best by `metric`) as a
    version of `name` and point `alias` at it.

    Returns {'run', 'sweep' (None with run_id), 'candidates', 'version', 'new', 'uri'}.
    """
    from mlflow.exceptions import MlflowException

    store = Path(uri.removeprefix("sqlite:///"))
    if uri.startswith("sqlite:///") and not store.is_file():
        raise DigitnetError(
            f"no MLflow store at {store}; run a sweep first (digitnet train -m ...)"
        )
    client = tracking.client(uri)
    try:
        if run_id:
            run, sweep, candidates = _run(client, uri, run_id), None, 1
        else:
            run, sweep, candidates = best_run(client, uri, experiment, metric, lowest)
        model = logged_model_of(uri, run)
        with fluent(uri):  # the registry looks the model up in MLflow's process-wide store
            check_loads(run, model, alias)
            version, new = _version(client, name, run, model)
        client.set_registered_model_alias(name, alias, version.version)
    except MlflowException as exc:
        raise DigitnetError(f"MLflow refused: {_first_line(exc)}") from None
    return {
        "run": run,
        "sweep": sweep,
        "candidates": candidates,
        "version": version.version,
        "new": new,
        "uri": f"models:/{name}@{alias}",
    }


def _run(client, uri, run_id):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException:
        raise DigitnetError(f"no run {run_id} in {uri}") from None


def best_run(client, uri, experiment, metric=METRIC, lowest=False):
    """(run, sweep id, number of ranked runs): the FINISHED child of the newest sweep with the
    best `metric` (the highest, or with `lowest` the lowest); the earlier job wins a tie."""
    found = client.get_experiment_by_name(experiment)
    parents = []
    if found is not None:
        parents = client.search_runs(
            [found.experiment_id],
            "tags.sweep_id IS NOT NULL AND tags.`mlflow.parentRunId` IS NULL",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
    if not parents:
        raise DigitnetError(
            f"no sweep in experiment '{experiment}' at {uri}; run one "
            "(digitnet train -m ...) or name a run with --run ID"
        )
    parent = parents[0]
    sweep = parent.data.tags["sweep_id"]
    children = _all_runs(
        client,
        found.experiment_id,
        f"tags.`mlflow.parentRunId` = '{parent.info.run_id}' AND attributes.status = 'FINISHED'",
    )
    ranked = [run for run in children if metric in run.data.metrics]
    if not ranked:
        raise DigitnetError(
            f"sweep {sweep} (run {parent.info.run_id}) has no FINISHED run with metric {metric}; "
            "wait for it to finish, or name a run with --run ID"
        )
    pick = min if lowest else max
    return pick(ranked, key=lambda run: run.data.metrics[metric]), sweep, len(ranked)


def _all_runs(client, experiment_id, filter_string):
    """Every run that matches, oldest first, over as many pages as it takes."""
    runs, token = [], None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        runs += page
        token = page.token
        if not token:
            return runs


def logged_model_of(uri, run):
    """The newest READY model that `run` logged; a run trained with tracking.log_model=false has
    none, which is an error."""
    from mlflow.entities import LoggedModelStatus

    # a search filter on status = 'READY' matches none, so the status is read here
    for model in tracking.run_models(uri, run.info.run_id):
        if model.status == LoggedModelStatus.READY:
            return model
    tags = run.data.tags
    if "sweep_id" in tags and "mlflow.parentRunId" not in tags:
        raise DigitnetError(
            f"run {run.info.run_id} is the parent run of sweep {tags['sweep_id']}, which logs no "
            "model; name one of its runs, or leave out --run to promote its best"
        )
    raise DigitnetError(
        f"run {run.info.run_id} ({run.info.run_name}) logged no model: it was trained with "
        "tracking.log_model=false; promote another run, or train again with the default"
    )


def check_loads(run, model, alias):
    """Refuse a model that does not load (its files deleted, say), before any alias moves to it:
    `models:/<name>@<alias>` must keep naming a model that predict and serve can use."""
    import mlflow.pyfunc

    try:
        mlflow.pyfunc.load_model(model.model_uri)
    except Exception as exc:  # whatever stops it loading, the alias stays where it is
        raise DigitnetError(
            f"run {run.info.run_id} ({run.info.run_name}): its model {model.model_uri} does not "
            f"load from {model.artifact_location} ({_first_line(exc)}); "
            f"alias {alias} left as it was"
        ) from None


def _version(client, name, run, model):
    """(version, True if new): the version of `name` that holds `model`, registered if none does."""
    from mlflow.exceptions import MlflowException

    existing = client.search_model_versions(f"name = '{name}' AND run_id = '{run.info.run_id}'")
    for version in existing:  # the SQL store keeps the model's id only in the version's source
        if model.model_id in (version.model_id, version.source.removeprefix("models:/")):
            return version, False
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    version = client.create_model_version(
        name, model.model_uri, run_id=run.info.run_id, model_id=model.model_id
    )
    # the UI's Models tab lists a model's versions from this tag, as mlflow.register_model sets it
    versions = json.loads(model.tags.get(MODEL_VERSIONS_TAG, "[]"))
    versions.append({"name": name, "version": version.version})
    client.set_logged_model_tags(model.model_id, {MODEL_VERSIONS_TAG: json.dumps(versions)})
    return version, True


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe(result, name, alias, metric):
    """The one line that `digitnet promote` prints."""
    run = result["run"]
    scores = [m for m in (metric, *SHOWN) if m in run.data.metrics]
    scores = ", ".join(f"{m} {run.data.metrics[m]:.4f}" for m in dict.fromkeys(scores))
    chosen = ""
    if result["sweep"] is not None:
        chosen = f", the best of {result['candidates']} in sweep {result['sweep']}"
    again = "" if result["new"] else " (already registered)"
    return (
        f"promote: {run.info.run_name} (run {run.info.run_id}, {scores}){chosen} → "
        f"{name} version {result['version']}{again}, alias {alias}: {result['uri']}"
    )


EXAMPLES = """\
examples:
  digitnet promote                      the best val_accuracy of the latest sweep
  digitnet promote --run 3f2a9c...      that run instead
  digitnet promote --metric test_accuracy --alias challenger
  digitnet predict models:/digits@champion data/digits.xlsx
  mlflow models serve -m models:/digits@champion --env-manager local -p 5001
"""


def parser():
    arguments = argparse.ArgumentParser(
        prog="digitnet promote",
        description=(
            "Register a run's model and point an alias at it: by default the best child run "
            "of the latest sweep, as models:/digits@champion."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = arguments.add_mutually_exclusive_group()
    which.add_argument("--run", metavar="ID", help="promote this run (default: the sweep's best)")
    which.add_argument(
        "--metric", default=METRIC, help=f"rank the sweep's runs by this metric (default {METRIC})"
    )
    arguments.add_argument(
        "--lowest", action="store_true", help="the lowest value wins (for a cost), not the highest"
    )
    arguments.add_argument("--name", default=NAME, help=f"registered model name (default {NAME})")
    arguments.add_argument("--alias", default=ALIAS, help=f"alias to move (default {ALIAS})")
    arguments.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="the MLflow store (default: MLFLOW_TRACKING_URI, else tracking.uri, else mlflow.db)",
    )
    return arguments


def main(argv=None):
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    with cli.reported():
        config = cli.load_config()
        uri = args.tracking_uri or tracking.store_uri(config.tracking)
        result = promote(
            uri=uri,
            experiment=config.tracking.experiment,
            run_id=args.run,
            metric=args.metric,
            lowest=args.lowest,
            name=args.name,
            alias=args.alias,
        )
        print(describe(result, args.name, args.alias, args.metric))


if __name__ == "__main__":
    main()
