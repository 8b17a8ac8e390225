"""The local config.json importer against the catalog and the model cards.

Fixtures in tests/fixtures/hf/ copy the public config.json files (values as published):
  llama-3.1-8b.json  https://huggingface.co/meta-llama/Llama-3.1-8B/blob/main/config.json
  mixtral-8x7b.json  https://huggingface.co/mistralai/Mixtral-8x7B-v0.1/blob/main/config.json
  deepseek-v3.json   https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json
  gemma-2-9b.json    https://huggingface.co/google/gemma-2-9b/blob/main/config.json
  qwen2.5-7b.json    https://huggingface.co/Qwen/Qwen2.5-7B/blob/main/config.json
  mistral-7b.json    https://huggingface.co/mistralai/Mistral-7B-v0.1/blob/main/config.json
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kvjax import catalog
from kvjax.catalog import SUPPORTED, model_from_hf_config
from kvjax.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures" / "hf"

# fixture -> (catalog id, model-card total parameters, where the card says it)
CARDS = {
    "llama-3.1-8b": ("llama-3.1-8b", 8.03e9),  # HF model page: 8.03B params
    "mixtral-8x7b": ("mixtral-8x7b", 46.7e9),  # Mistral AI / arXiv 2401.04088: 46.7B
    "deepseek-v3": ("deepseek-v3", 671e9),  # DeepSeek-V3 card / arXiv 2412.19437: 671B
    "gemma-2-9b": ("gemma-2-9b", 9.24e9),  # HF model page: 9.24B params
    "qwen2.5-7b": ("qwen2.5-7b", 7.61e9),  # Qwen2.5-7B card: "Number of Parameters: 7.61B"
    "mistral-7b": ("mistral-7b", 7.24e9),  # HF model page: 7.24B params
}


@pytest.mark.parametrize("fixture", sorted(CARDS))
def test_importer_matches_catalog_and_card(fixture):
    name, card_params = CARDS[fixture]
    model, info = model_from_hf_config(FIXTURES / f"{fixture}.json")
    ref = catalog.load_model(name)
    for leaf in ref.leaf_names():
        if leaf != "params_total":
            assert getattr(model, leaf) == pytest.approx(getattr(ref, leaf)), leaf
    assert info["params_total"] == pytest.approx(card_params, rel=0.01)
    assert model.params_total == pytest.approx(ref.params_total, rel=0.01)
    cat = catalog.model_info(name)
    assert (info["d_ff"], info["vocab_size"]) == (cat["d_ff"], cat["vocab_size"])


def test_specific_conventions():
    ds, info = model_from_hf_config(FIXTURES / "deepseek-v3.json")
    # MLA: head_dim = qk_nope 128 + qk_rope 64; latent 512; 58 MoE layers (first 3 dense)
    assert (ds.head_dim, ds.kv_latent_dim, ds.kv_rope_dim) == (192, 512, 64)
    assert ds.expert_params == 58 * 3 * 7168 * 2048
    assert info["max_context_tokens"] == 163840
    gemma, info = model_from_hf_config(FIXTURES / "gemma-2-9b.json")
    assert gemma.head_dim == 256 and info["tie_word_embeddings"] is True  # gemma default
    assert (gemma.window_tokens, gemma.windowed_layer_fraction) == (4096, 0.5)
    qwen, _ = model_from_hf_config(FIXTURES / "qwen2.5-7b.json")
    assert qwen.windowed_layer_fraction == 0 and qwen.window_tokens == 0  # use_sliding_window false
    mistral, _ = model_from_hf_config(FIXTURES / "mistral-7b.json")
    assert (mistral.window_tokens, mistral.windowed_layer_fraction) == (4096, 1.0)


def _config(tmp_path, **changes):
    cfg = json.loads((FIXTURES / "llama-3.1-8b.json").read_text())
    for key, value in changes.items():
        if value is ...:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return path


def test_head_dim_fallback_and_gemma3(tmp_path):
    # no head_dim key: D / N, as Hugging Face's LlamaAttention does
    model, _ = model_from_hf_config(_config(tmp_path, head_dim=...))
    assert model.head_dim == 128
    model, _ = model_from_hf_config(_config(tmp_path, head_dim=64))
    assert model.head_dim == 64
    text = dict(hidden_size=5376, num_hidden_layers=62, num_attention_heads=32, head_dim=128,
                num_key_value_heads=16, intermediate_size=21504, vocab_size=262208,
                sliding_window=1024, sliding_window_pattern=6)  # fmt: skip
    path = tmp_path / "g3.json"
    path.write_text(json.dumps({"model_type": "gemma3", "text_config": text}))
    g3, info = model_from_hf_config(path)
    assert g3.windowed_layer_fraction == pytest.approx(52 / 62) and g3.window_tokens == 1024
    ref = catalog.load_model("gemma-3-27b")
    assert g3.params_total == pytest.approx(ref.params_total, rel=0.01)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"model_type": "gpt2"}, "model_type = 'gpt2': unsupported model_type; supported: llama"),
        ({"hidden_size": ...}, "hidden_size: missing required field"),
        ({"hidden_size": 0}, "hidden_size = 0: must be > 0"),
        ({"num_hidden_layers": -2}, "num_hidden_layers = -2: must be > 0"),
        ({"vocab_size": "big"}, "vocab_size = 'big': not an integer"),
        ({"num_key_value_heads": 64}, "num_key_value_heads = 64: exceeds"),
    ],
)
def test_bad_configs(tmp_path, changes, match):
    path = _config(tmp_path, **changes)
    with pytest.raises(InputError) as err:
        model_from_hf_config(path)
    assert str(path) in str(err.value) and match in str(err.value)
    assert "\n" not in str(err.value)


def test_unreadable_and_bad_json(tmp_path):
    with pytest.raises(InputError, match="cannot read config"):
        model_from_hf_config(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"model_type": "llama",')
    with pytest.raises(InputError, match=r"bad\.json: not valid JSON \(line 1"):
        model_from_hf_config(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(InputError, match="JSON object"):
        model_from_hf_config(bad)
    assert "deepseek_v3" in SUPPORTED
