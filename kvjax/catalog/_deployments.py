"""Published deployments of large models: ``data/deployments.csv`` -> checked rows ->
scenarios, each with the figure its source measured.

Each row names a catalog model and accelerator, the precision and every deployment degree
(``tp``, ``ep``, ``dp_attention``, ``pp``, ``cp``), the context and output lengths, the batch
(users per replica, or ``max``: the largest batch that fits), the metric the source
measured and its value, the source URL and a note that says how the figure was derived.
The file ships inside the package (``kvjax/catalog/data/``, linked from ``data/``) so that
``kvjax`` can compare itself against it after any install (``tests/test_deployments.py``):
a theoretical peak must never be slower than a measurement.

>>> rows = load_deployments()
>>> rows["deepseek-v3-decode-h800"]["ep"], rows["deepseek-v3-decode-h800"]["metric"]
(144.0, 'decode_tokens_per_s_per_device')
"""

from __future__ import annotations

import csv
import functools
import math
from pathlib import Path

from ..errors import fail, suggest
from ..model import Scenario, Workload, check_leaf_value
from ._loader import PRECISIONS, data_dir, hardware_names, load_hardware, load_model, model_names

FILE = "deployments.csv"
DEGREES = ("tp", "ep", "dp_attention", "pp", "cp")
NUMBERS = ("weight_bytes_per_param", "kv_bits", *DEGREES, "context_tokens", "output_tokens")
COLUMNS = ("id", "model", "hardware", "precision", *NUMBERS, "batch", "metric", "measured",
           "source", "note")  # fmt: skip
METRICS = {
    # metric -> True when a higher value is faster (a throughput), False for a time
    "decode_tokens_per_s_per_device": True,
    "prompt_tokens_per_s_per_device": True,
    "output_tokens_per_s_per_device": True,
    "decode_step_s": False,
    "prefill_s": False,
}
"""The measurements a row may hold, and whether each is a throughput."""


def _number(path, key, field, raw, leaf=None):
    try:
        v = float(raw)
    except ValueError:
        raise fail("not a number", path, key, field, raw) from None
    if not math.isfinite(v) or v <= 0:
        raise fail("must be a finite number > 0", path, key, field, raw)
    if leaf is not None:
        check_leaf_value(leaf, v, path, key, field)
    return v


def _row(path, r: dict) -> dict:
    key = r["id"]
    if not key:
        raise fail("empty id", path, field="id")
    out = {"id": key}
    for field, names in (("model", model_names()), ("hardware", hardware_names())):
        if r[field] not in names:
            raise fail(f"unknown {field}{suggest(r[field], names)}", path, key, field, r[field])
        out[field] = r[field]
    if r["precision"] not in PRECISIONS:
        raise fail(f"precision must be one of {PRECISIONS}", path, key, "precision",
                   r["precision"])  # fmt: skip
    out["precision"] = r["precision"]
    for field in NUMBERS:
        out[field] = _number(path, key, field, r[field], f"workload.{field}")
    out["batch"] = None if r["batch"] == "max" else _number(path, key, "batch", r["batch"],
                                                              "workload.batch")  # fmt: skip
    if r["metric"] not in METRICS:
        raise fail(f"unknown metric{suggest(r['metric'], METRICS)}", path, key, "metric",
                   r["metric"])  # fmt: skip
    out["metric"] = r["metric"]
    out["measured"] = _number(path, key, "measured", r["measured"])
    if not r["source"].startswith("https://"):
        raise fail("source must be an https URL", path, key, "source", r["source"])
    out["source"], out["note"] = r["source"], r["note"]
    return out


def load_deployments_file(path) -> dict[str, dict]:
    """Parse and check one deployments CSV: ``{row id: row}``; every problem is a one-line
    ``InputError`` naming the file, the row id, the column and the value."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise fail(f"cannot read deployments: {err.strerror}", file=path) from None
    reader = csv.DictReader(text.splitlines())
    header = tuple(reader.fieldnames or ())
    if header != COLUMNS:
        missing = [c for c in COLUMNS if c not in header]
        what = f"missing column {missing[0]!r}" if missing else f"columns must be {COLUMNS}"
        raise fail(what, path, field="header", value=",".join(header))
    out = {}
    for r in reader:
        if None in r or any(v is None for v in r.values()):
            raise fail("wrong number of fields", path, r.get("id"))
        row = _row(path, r)
        if row["id"] in out:
            raise fail("id repeats", path, row["id"], "id", row["id"])
        out[row["id"]] = row
    if not out:
        raise fail("no rows", file=path)
    return out


@functools.lru_cache(maxsize=4)
def _cached(path: str) -> dict[str, dict]:
    return load_deployments_file(path)


def load_deployments() -> dict[str, dict]:
    """Every shipped deployment row (checked, cached), in file order."""
    return _cached(str(data_dir() / FILE))


def deployment_scenario(row: dict) -> Scenario:
    """The scenario of one row; ``batch = max`` rows get the largest batch that fits (the
    floor of the concurrency, at least 1)."""
    from .. import costs

    workload = Workload(**{f: row[f] for f in NUMBERS}, batch=row["batch"] or 1.0)
    hardware = load_hardware(row["hardware"], row["precision"])
    s = Scenario(load_model(row["model"]), hardware, workload)
    if row["batch"] is None:
        batch = max(1.0, float(costs.concurrency_floor(s)))
        s = s.replace(workload=workload.replace(batch=batch))
    return s
