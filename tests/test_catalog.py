"""The shipped catalogs: counts, sources, SI conversion, stacking, and every bad input."""

from __future__ import annotations

import math
import tomllib

import jax
import pytest

from kvjax import catalog
from kvjax.errors import InputError
from kvjax.model import Hardware, Model

REQUIRED_MODELS = (
    "yi-34b llama-2-7b llama-2-13b llama-2-70b llama-3.1-8b llama-3.1-70b llama-3.1-405b "
    "mistral-7b mixtral-8x7b mixtral-8x22b qwen2.5-7b qwen2.5-72b deepseek-v2 deepseek-v3 "
    "gemma-2-9b gemma-2-27b gpt-3-175b characterai-hybrid falcon-7b"
).split()
REQUIRED_HARDWARE = (
    "a100-40gb-sxm a100-80gb-sxm a100-40gb-pcie a100-80gb-pcie h100-sxm h100-pcie h100-nvl "
    "h200 b200 gb200 mi250x mi300x mi325x tpu-v4 tpu-v5e tpu-v5p tpu-v6e l40s l4 gaudi3 "
    "rtx-4090 a10g"
).split()


def test_counts_and_required_entries():
    assert len(catalog.hardware_names()) >= 20
    assert len(catalog.model_names()) >= 25
    assert set(REQUIRED_MODELS) <= set(catalog.model_names())
    assert set(REQUIRED_HARDWARE) <= set(catalog.hardware_names())


@pytest.mark.parametrize("kind", ["models", "hardware"])
def test_every_entry_has_a_source_url(kind):
    names = catalog.model_names() if kind == "models" else catalog.hardware_names()
    info = catalog.model_info if kind == "models" else catalog.hardware_info
    for name in names:
        assert info(name)["source"].startswith("https://"), name


def test_a100_80gb_si_values():
    # NVIDIA A100 datasheet: 312 TFLOP/s dense bf16, 80 GiB HBM2e, 2,039 GB/s; NVLink3
    # 600 GB/s total = 300 GB/s each way; PCIe 4.0 x16 = 32 GB/s each way.
    hw = catalog.load_hardware("a100-80gb-sxm")
    assert hw.flop_per_s == 312e12
    assert hw.hbm_bytes == 80 * 2**30 == 85_899_345_920
    assert hw.hbm_bytes_per_s == 2.039e12
    assert hw.scaleup_bytes_per_s == 300e9
    assert hw.host_link_bytes_per_s == 32e9
    assert hw.scaleup_latency_s == pytest.approx(2e-6)


def test_precision_selects_dense_fp8_rate():
    # NVIDIA H100 SXM datasheet: 1,979 bf16 / 3,958 fp8 TFLOP/s *with sparsity*: dense is half.
    assert catalog.load_hardware("h100-sxm").flop_per_s == pytest.approx(989.4e12)
    assert catalog.load_hardware("h100-sxm", "fp8").flop_per_s == pytest.approx(1978.9e12)
    with pytest.raises(InputError, match=r"\[a100-80gb-sxm\].*precision = 'fp8'.*no fp8"):
        catalog.load_hardware("a100-80gb-sxm", precision="fp8")
    with pytest.raises(InputError, match="did you mean 'fp8'"):
        catalog.load_hardware("h100-sxm", precision="fp9")


def test_model_fields_and_neutral_defaults():
    yi = catalog.load_model("yi-34b")  # 01-ai/Yi-34B-200K config.json; card: 34.39B params
    assert (yi.n_layers, yi.n_heads, yi.n_kv_heads, yi.head_dim) == (60, 56, 8, 128)
    assert yi.params_total == 34.39e9
    assert (yi.n_experts, yi.experts_per_token, yi.expert_params) == (1, 1, 0)
    assert (yi.kv_latent_dim, yi.windowed_layer_fraction, yi.layers_per_kv) == (0, 0, 1)
    # google/gemma-2-9b config.json: head_dim 256 although 3584 / 16 = 224
    assert catalog.load_model("gemma-2-9b").head_dim == 256
    mix = catalog.load_model("mixtral-8x7b")
    assert mix.expert_params == 32 * 3 * 4096 * 14336
    cai = catalog.model_info("characterai-hybrid")
    assert cai["hypothetical"] is True and cai["n_kv_heads"] == 1
    assert cai["windowed_layer_fraction"] == pytest.approx(5 / 6)
    assert catalog.model_info("yi-34b")["hypothetical"] is False


def test_info_labels():
    info = catalog.model_info("llama-3.1-8b")
    assert info["hf_id"] == "meta-llama/Llama-3.1-8B"
    assert (info["d_ff"], info["vocab_size"], info["max_context_tokens"]) == (14336, 128256, 131072)
    hw = catalog.hardware_info("tpu-v5e")
    assert hw["vendor"] == "google" and hw["fp8_flop_per_s"] is None
    assert hw["sources"]["usd_per_hour"].startswith("https://")
    assert math.isnan(catalog.load_hardware("h100-pcie").usd_per_hour)  # no price given


def test_unknown_names_suggest():
    with pytest.raises(InputError, match=r"models\.toml.*'yi34b'.*did you mean 'yi-34b'"):
        catalog.load_model("yi34b")
    with pytest.raises(InputError, match="did you mean 'h100-sxm'"):
        catalog.load_hardware("h100sxm")


def test_stack_shapes_and_vmap():
    names = ["yi-34b", "deepseek-v3", "falcon-7b"]
    m = catalog.stack_models(names)
    assert isinstance(m, Model)
    for leaf in jax.tree_util.tree_leaves(m):
        assert leaf.shape == (3,)
    assert [float(x) for x in m.n_kv_heads] == [8, 128, 1]
    hw = catalog.stack_hardware(["a100-80gb-sxm", "h100-sxm"], precision="bf16")
    assert isinstance(hw, Hardware) and hw.hbm_bytes.shape == (2,)
    ratio = jax.vmap(lambda h: h.flop_per_s / h.hbm_bytes_per_s)(hw)
    assert ratio.shape == (2,)
    with pytest.raises(InputError, match="empty"):
        catalog.stack_models([])


def test_catalog_hash_is_sha256_of_both_files():
    h = catalog.catalog_hash()
    assert len(h) == 64 and h == catalog.catalog_hash()


def test_package_files_parse_and_data_dir_env(tmp_path, monkeypatch):
    src = catalog.data_dir()
    for f in ("models.toml", "hardware.toml"):
        tomllib.loads((src / f).read_text())
        (tmp_path / f).write_bytes((src / f).read_bytes())
    monkeypatch.setenv(catalog.DATA_ENV, str(tmp_path))
    assert catalog.data_dir() == tmp_path
    assert catalog.load_model("yi-34b").n_layers == 60


# ------------------------------------------------------------------- bad input, temp files

GOOD_MODEL = {
    "name": '"Toy"',
    "hf_id": '"x/toy"',
    "source": '"https://example.org/config.json"',
    "params_source": '"model card"',
    "n_layers": "4",
    "d_model": "64",
    "n_heads": "4",
    "n_kv_heads": "2",
    "head_dim": "16",
    "d_ff": "128",
    "vocab_size": "100",
    "params_total": "1e6",
    "max_context_tokens": "2048",
}
GOOD_HW = {
    "name": '"Toy chip"',
    "vendor": '"acme"',
    "bf16_tflop_per_s": "100.0",
    "hbm_gib": "16",
    "hbm_gb_per_s": "1000.0",
    "host_link_gb_per_s": "32.0",
    "scaleup_gb_per_s": "32.0",
    "scaleup_latency_us": "5.0",
    "source": '"https://example.org/datasheet.pdf"',
}


def _write(tmp_path, fields, entry="toy"):
    text = f"[{entry}]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items())
    path = tmp_path / "cat.toml"
    path.write_text(text)
    return path


def _bad(tmp_path, kind, changes, match, drop=()):
    base = dict(GOOD_MODEL if kind == "models" else GOOD_HW)
    base.update(changes)
    for k in drop:
        base.pop(k)
    path = _write(tmp_path, base)
    with pytest.raises(InputError) as err:
        catalog.load_catalog_file(path, kind)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(path) in msg and "[toy]" in msg, msg
    assert match in msg, msg
    return msg


def test_good_temp_files_load(tmp_path):
    m = catalog.load_catalog_file(_write(tmp_path, GOOD_MODEL), "models")["toy"]
    assert m["n_layers"] == 4.0 and m["layers_per_kv"] == 1.0
    hw = catalog.load_catalog_file(_write(tmp_path, {**GOOD_HW}), "hardware")["toy"]
    assert hw["hbm_bytes"] == 16 * 2**30 and hw["scaleup_latency_s"] == pytest.approx(5e-6)
    gb = {k: v for k, v in GOOD_HW.items() if k != "hbm_gib"} | {"hbm_gb": "16"}
    assert catalog.load_catalog_file(_write(tmp_path, gb), "hardware")["toy"]["hbm_bytes"] == 16e9


@pytest.mark.parametrize(
    "kind, changes, drop, match",
    [
        ("models", {}, ["n_layers"], "n_layers: missing required field"),
        ("models", {"n_layer": "4"}, [], "n_layer = 4: unknown field; did you mean 'n_layers'"),
        ("models", {"d_model": '"big"'}, [], "d_model = 'big': not a number"),
        ("models", {"d_model": "true"}, [], "d_model = True: not a number"),
        ("models", {"head_dim": "-16"}, [], "head_dim = -16: outside the valid domain of "
         "model.head_dim: (0, inf)"),
        ("models", {"n_heads": "0"}, [], "n_heads = 0: outside the valid domain of "
         "model.n_heads: [1, inf)"),
        ("models", {"params_total": "inf"}, [], "params_total = inf: not finite"),
        ("models", {"params_total": "nan"}, [], "params_total = nan: not finite"),
        ("models", {"n_kv_heads": "8"}, [], "n_kv_heads = 8: exceeds n_heads"),
        (
            "models",
            {"n_experts": "2", "experts_per_token": "3"},
            [],
            "experts_per_token = 3: exceeds n_experts",
        ),
        ("models", {"windowed_layer_fraction": "1.5"}, [], "= 1.5: outside the valid domain of "
         "model.windowed_layer_fraction: [0, 1]"),
        ("models", {"windowed_layer_fraction": "-0.1"}, [], "= -0.1: outside the valid domain"),
        ("models", {}, ["source"], "source: missing source URL"),
        ("models", {"source": '"model card"'}, [], "must be an http(s) URL"),
        ("hardware", {"hbm_gb": "16"}, [], "both hbm_gib and hbm_gb"),
        ("hardware", {}, ["hbm_gib"], "neither hbm_gib nor hbm_gb"),
        ("hardware", {"hbm_gb_per_s": "0"}, [], "hbm_gb_per_s = 0: outside the valid domain "
         "of hardware.hbm_bytes_per_s"),
        ("models", {"d_ff": "0"}, [], "d_ff = 0: must be > 0"),
        ("hardware", {"bf16_tflops": "1"}, [], "did you mean 'bf16_tflop_per_s'"),
        ("hardware", {}, ["source"], "source: missing source URL"),
        ("hardware", {"sources": '{ usd_per_hr = "x" }'}, [], "did you mean 'usd_per_hour'"),
        ("hardware", {"scaleup_latency_us": '"fast"'}, [], "not a number"),
    ],
)
def test_bad_inputs_name_file_entry_field(tmp_path, kind, changes, drop, match):
    _bad(tmp_path, kind, changes, match, drop)


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="cannot read catalog"):
        catalog.load_catalog_file(tmp_path / "missing.toml", "models")
    path = tmp_path / "broken.toml"
    path.write_text("[toy\nname = 1\n")
    with pytest.raises(InputError, match="broken.toml: not valid TOML"):
        catalog.load_catalog_file(path, "models")
    with pytest.raises(InputError, match="did you mean 'models'"):
        catalog.load_catalog_file(path, "model")
