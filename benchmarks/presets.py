"""Every preset in conf/experiment/, and the defaults, trained and scored as a user runs them.

    python benchmarks/presets.py      # after `make run`; two minutes on an idle machine

Each runs `digitnet train <overrides> tracking.enabled=false` into a temporary directory
and reads the accuracies from its eval/metrics.json. Besides the presets, `experiment=best`
without its shifted copies shows what they add. The figures are written to
docs/measured/presets.json, keyed by the overrides ("default" for none), which tests/test_docs.py
holds the preset tables of README.md and docs/ to. Times are left out: on a shared machine they
say more about the neighbours than about the preset.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "docs" / "measured" / "presets.json"


VARIANTS = ["experiment=best train.augment=none"]  # measured besides the presets


def runs():
    """Overrides of each run: "default" (experiment=default), each other preset, VARIANTS."""
    names = sorted(
        p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml") if p.stem != "default"
    )
    return ["default", *(f"experiment={name}" for name in names), *VARIANTS]


def measure(run, out_dir):
    overrides = [] if run == "default" else run.split()
    command = [sys.executable, "-m", "digitnet.train", *overrides, "tracking.enabled=false"]
    subprocess.run([*command, f"hydra.run.dir={out_dir}"], cwd=ROOT, check=True)
    metrics = json.loads((Path(out_dir) / "eval" / "metrics.json").read_text())
    return {key: metrics[key] for key in ("train_accuracy", "val_accuracy", "test_accuracy")}


def commit():
    out = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    )
    return out.stdout.strip() or None


def main():
    if not (ROOT / "artifacts" / "ingested.npz").is_file():
        sys.exit("error: artifacts/ingested.npz is missing; run `make run` first")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for number, run in enumerate(runs()):
            results[run] = measure(run, Path(tmp) / str(number))
    print(f"\n{'overrides':38s} {'train':>7s} {'val':>7s} {'test':>7s}")
    for run, r in results.items():
        accuracies = (r[f"{split}_accuracy"] for split in ("train", "val", "test"))
        print(f"{run:38s}" + "".join(f" {value:7.4f}" for value in accuracies))
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    record = {"commit": commit(), "runs": results}
    RECORD.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {RECORD.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
