"""Published deployments: the data file, the peak-never-slower check on every row, and
deployments as data on the command line, in sweep specs and in the config importer.

Every row of ``kvjax/catalog/data/deployments.csv`` carries its source URL and a note on
how its figure follows from the source (DeepSeek's day-6 inference-system overview, the
LMSYS large-scale-EP post, Meta's context-parallelism paper arXiv 2411.01783, TensorRT-LLM's
performance overview).  A theoretical peak slower than a measurement is a modelling error.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from kvjax import catalog
from kvjax.catalog._deployments import METRICS as THROUGHPUT
from kvjax.cli import main
from kvjax.errors import InputError
from kvjax.model import METRICS
from kvjax.sweep import parse_text

ROOT = Path(__file__).resolve().parents[1]
ROWS = catalog.load_deployments()


def _peak(row):
    return float(METRICS[row["metric"]].fn(catalog.deployment_scenario(row)))


def test_rows_cover_the_large_models_with_sources():
    assert len(ROWS) >= 8
    models = {r["model"] for r in ROWS.values()}
    assert {"deepseek-v3", "llama-3.1-405b", "qwen3-235b-a22b"} <= models
    for r in ROWS.values():
        assert r["source"].startswith("https://") and r["note"], r["id"]
    # every degree the issue names appears in some row
    assert any(r["ep"] > 1 and r["dp_attention"] > 1 for r in ROWS.values())
    assert any(r["cp"] > 1 for r in ROWS.values()) and any(r["tp"] > 1 for r in ROWS.values())


def test_data_file_ships_in_the_package_and_is_linked():
    shipped = Path(str(catalog.data_dir())) / "deployments.csv"
    assert shipped.is_file() and not shipped.is_symlink()
    link = ROOT / "data" / "deployments.csv"
    assert link.is_symlink() and os.path.samefile(link, shipped)


@pytest.mark.parametrize("key", list(ROWS))
def test_peak_is_never_slower_than_measured(key):
    row = ROWS[key]
    peak = _peak(row)
    assert math.isfinite(peak), key
    if THROUGHPUT[row["metric"]]:
        assert peak >= row["measured"], (key, peak, row["measured"])
    else:
        assert peak <= row["measured"], (key, peak, row["measured"])


def test_table(capsys):
    """The table of docs/cost-model.md §16.7 (run with -s to see it)."""
    lines = []
    for key, row in ROWS.items():
        peak = _peak(row)
        speed = peak / row["measured"] if THROUGHPUT[row["metric"]] else row["measured"] / peak
        lines.append(f"| {key} | {row['measured']:.4g} | {peak:.4g} | {speed:.2f} |")
        assert speed >= 1.0
    with capsys.disabled():
        print("\n" + "\n".join(lines))


@pytest.mark.parametrize(
    "column, value, message",
    [
        ("model", "deepseek-v9", "unknown model"),
        ("tp", "eight", "not a number"),
        ("ep", "-1", "must be a finite number > 0"),
        ("metric", "decode_speed", "unknown metric"),
        ("source", "deepseek blog", "https URL"),
        ("precision", "fp4", "precision must be one of"),
    ],
)
def test_bad_rows_are_one_line_errors(tmp_path, column, value, message):
    src = (Path(str(catalog.data_dir())) / "deployments.csv").read_text().splitlines()
    header = src[0].split(",")
    first = next(iter(ROWS.values()))
    cells = {c: str(first[c]) if first[c] is not None else "max" for c in header}
    cells[column] = value
    path = tmp_path / "d.csv"
    path.write_text(src[0] + "\n" + ",".join(f'"{cells[c]}"' for c in header) + "\n")
    with pytest.raises(InputError) as err:
        catalog.load_deployments_file(path)
    text = str(err.value)
    assert "\n" not in text and str(path) in text and f"[{first['id']}]" in text
    assert column in text and message in text, text


def test_every_accelerator_has_a_domain_and_a_nic():
    for name in catalog.hardware_names():
        info = catalog.hardware_info(name)
        assert 1 <= info["scaleup_domain_devices"] < 1e9, name
        assert info["scaleout_bytes_per_s"] > 0, name
        assert {"scaleup_domain", "scaleout_gb_per_s"} <= set(info["sources"]), name
    # TPU ICI is one link x the links of one torus axis (scaling-book: v4 4.5e10 B/s a link)
    assert catalog.load_hardware("tpu-v4").scaleup_bytes_per_s == 2 * 45e9


# ----------------------------------------------------------------------------- the CLI


def _run(capsys, argv):
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


DEEPSEEK = ["--model", "deepseek-v3", "--hardware", "h800", "--precision", "fp8",
            "--weight-bytes-per-param", "1", "--context", "4989",
            "--output-tokens", "1"]  # fmt: skip


def test_eval_deepseek_as_deepseek_serves_it_in_one_line(capsys):
    rc, out, _ = _run(capsys, ["eval", *DEEPSEEK, "--nodes", "18", "--batch", "12686"])
    assert rc == 0
    line = next(x for x in out.splitlines() if x.startswith("decode_tokens_per_s_per_device"))
    assert float(line.split()[1]) >= 1850  # [day6] 14.8k tokens/s per 8-GPU node
    assert "devices_per_replica             144" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "mixtral-8x7b", "--hardware", "h100-sxm", "--context", "4000", "--tp",
          "8", "--ep", "16"], "--ep = 16.0: ep = 16 exceeds the 8 routed experts"),
        (["--model", "yi-34b", "--hardware", "h100-sxm", "--context", "4000", "--dp-attention",
          "16", "--set", "hardware.scaleout_bytes_per_s=0"],
         "--set hardware.scaleout_bytes_per_s = 0.0: the deployment (tp x"),
        ([*DEEPSEEK, "--nodes", "18", "--dp-attention", "32"], "--nodes = 18.0: tp x"),
        (["--model", "yi-34b", "--hardware", "h100-sxm", "--context", "4000", "--set",
          "hardware.scaleup_domain_devices=1e9", "--nodes", "2"], "scale-up domain size"),
    ],
)
def test_eval_bad_deployment_is_one_line(capsys, argv, message):
    rc, out, err = _run(capsys, ["eval", *argv])
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert message in err, err


def test_grad_ranks_the_deployment_knobs(capsys):
    rc, out, _ = _run(capsys, ["grad", *DEEPSEEK, "--nodes", "18", "--batch", "12686",
                               "--metrics", "decode_step_s", "--wrt",
                               "dp_attention,ep,comm_overlap,moe_imbalance,"
                               "scaleout_bytes_per_s,hbm_bytes_per_s"])  # fmt: skip
    assert rc == 0 and "nan" not in out.lower()
    block = out.split("decode_step_s = ")[1].splitlines()[1:]
    ranked = [line.split()[0] for line in block if line.strip()]
    assert ranked[0] == "hardware.hbm_bytes_per_s"  # HBM-bound at DeepSeek's batch
    assert "hardware.scaleout_bytes_per_s" in ranked and "workload.moe_imbalance" in ranked


# ----------------------------------------------------------------------------- sweep specs

SPEC = """
name = "ds"
[axes.batch]
leaf = "workload.batch"
values = [4000, 12686]
[fixed]
model = "deepseek-v3"
hardware = "h800"
precision = "fp8"
workload.context_tokens = 4989
workload.weight_bytes_per_param = 1
[deployment]
nodes = 18
comm_overlap = 0.5
"""


def test_spec_deployment_table_and_nodes():
    spec = parse_text(SPEC, "ds.toml")
    assert spec.fixed["workload.dp_attention"] == 144 and spec.fixed["workload.ep"] == 144
    assert spec.fixed["workload.comm_overlap"] == 0.5


@pytest.mark.parametrize(
    "edit, where",
    [
        (("nodes = 18", "ep = 512"), "[deployment]: ep = 512.0: ep = 512 exceeds the 256 routed"),
        (("nodes = 18", "dp_atention = 2"), "did you mean 'dp_attention'"),
        (("[axes.batch]\nleaf = \"workload.batch\"\nvalues = [4000, 12686]",
          "[axes.tp]\nleaf = \"workload.tp\"\nvalues = [1, 256]"),
         "[axes.tp]: workload.tp = 256.0"),
        (("nodes = 18", "nodes = 18\ndp_attention = 3"), "[deployment]: nodes = 18.0"),
    ],
)
def test_spec_bad_deployment_is_one_line(edit, where):
    with pytest.raises(InputError) as err:
        parse_text(SPEC.replace(*edit), "ds.toml")
    assert "\n" not in str(err.value) and "ds.toml" in str(err.value)
    assert where in str(err.value), str(err.value)


# ----------------------------------------------------------------------------- the importer

FIXTURES = ROOT / "tests" / "fixtures" / "hf"


def test_importer_reads_parallel_blocks_and_dense_layers(tmp_path):
    # CohereForAI/c4ai-command-r-v01 config.json: a parallel block, tied embeddings (35B card)
    model, info = catalog.model_from_hf_config(FIXTURES / "command-r.json")
    ref = catalog.load_model("command-r")
    for leaf in ref.leaf_names():
        if leaf != "params_total":
            assert getattr(model, leaf) == pytest.approx(getattr(ref, leaf)), leaf
    assert model.allreduces_per_layer == 1 and info["params_total"] == pytest.approx(35e9, 0.01)
    # deepseek-ai/DeepSeek-V3: first_k_dense_replace = 3
    ds, _ = catalog.model_from_hf_config(FIXTURES / "deepseek-v3.json")
    assert ds.n_dense_layers == 3 and ds.allreduces_per_layer == 2
    # a config that says parallel_attn (Falcon, GPT-J style) gets one all-reduce per layer
    text = (FIXTURES / "llama-3.1-8b.json").read_text().replace("{", '{"parallel_attn": true,', 1)
    (tmp_path / "config.json").write_text(text)
    assert catalog.model_from_hf_config(tmp_path / "config.json")[0].allreduces_per_layer == 1
