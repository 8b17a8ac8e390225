"""Catalog files: parse, validate (one-line errors), convert to SI once, cache, stack.

The public surface and a worked example are in ``kvjax.catalog``.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
import tomllib
from importlib import resources
from pathlib import Path

import jax.numpy as jnp

from ..errors import fail, suggest
from ..model import Hardware, Model, first_problem, leaf_info
from ..model import leaf_defaults as _leaf_defaults
from ..units import GB, TB, TERA, US, GiB

DATA_ENV = "KVJAX_DATA_DIR"
FILES = {"models": "models.toml", "hardware": "hardware.toml"}
PRECISIONS = ("bf16", "fp8")

# Fields that are not leaves: name -> (type, required, rule).  type: "num" | "str" | "url" |
# "bool" | "table"; rule for numbers: "pos" (> 0).  The leaves' own ranges come from their
# metadata (``kvjax.model.leaf_info``), checked after conversion to SI.
_MODEL_LABELS = {
    "name": ("str", True, None),
    "hf_id": ("str", True, None),
    "source": ("url", True, None),
    "params_source": ("str", True, None),
    "d_ff": ("num", True, "pos"),
    "vocab_size": ("num", True, "pos"),
    "max_context_tokens": ("num", True, "pos"),
    "hypothetical": ("bool", False, None),
    "note": ("str", False, None),
}
_DEFAULTS = _leaf_defaults()
# Every Model leaf is a catalog field of the same name; required where it has no default.
_MODEL_LEAVES = {n: (f"model.{n}", 1.0) for n in Model.leaf_names()}
_MODEL_SPEC = {
    **{k: _MODEL_LABELS[k] for k in ("name", "hf_id", "source", "params_source")},
    **{n: ("num", f"model.{n}" not in _DEFAULTS, None) for n in Model.leaf_names()},
    **{k: v for k, v in _MODEL_LABELS.items() if k not in ("name", "hf_id", "source",
                                                            "params_source")},
}  # fmt: skip
# Hardware fields in human units: field -> (leaf, factor to SI).
_HARDWARE_LEAVES = {
    "bf16_tflop_per_s": ("hardware.flop_per_s", TERA),
    "fp8_tflop_per_s": ("hardware.flop_per_s", TERA),
    "hbm_gib": ("hardware.hbm_bytes", GiB),
    "hbm_gb": ("hardware.hbm_bytes", GB),
    "hbm_gb_per_s": ("hardware.hbm_bytes_per_s", GB),
    "host_link_gb_per_s": ("hardware.host_link_bytes_per_s", GB),
    "scaleup_gb_per_s": ("hardware.scaleup_bytes_per_s", GB),
    "scaleup_latency_us": ("hardware.scaleup_latency_s", US),
    "usd_per_hour": ("hardware.usd_per_hour", 1.0),
    "scaleup_domain": ("hardware.scaleup_domain_devices", 1.0),
    "scaleout_gb_per_s": ("hardware.scaleout_bytes_per_s", GB),
    "scaleout_latency_us": ("hardware.scaleout_latency_s", US),
    "allreduce_latency_us": ("hardware.allreduce_latency_s", US),
    "alltoall_latency_us": ("hardware.alltoall_latency_s", US),
    "node_devices": ("hardware.node_devices", 1.0),
    "host_uplink_devices": ("hardware.host_uplink_devices", 1.0),
    "host_dram_gib": ("hardware.host_dram_bytes", GiB),
    "host_dram_gb_per_s": ("hardware.host_dram_bytes_per_s", GB),
    "nvme_tb": ("hardware.ssd_bytes", TB),
    "nvme_gb_per_s": ("hardware.ssd_bytes_per_s", GB),
}
# Optional fabric and node fields: catalog field -> (leaf, factor to SI); absent = the leaf's
# default.
_OPTIONAL = ("scaleup_domain", "scaleout_gb_per_s", "scaleout_latency_us",
           "allreduce_latency_us", "alltoall_latency_us",
           # the node below HBM (issue 12's KV tiers); absent = the device alone
           "node_devices", "host_uplink_devices", "host_dram_gib", "host_dram_gb_per_s",
           "nvme_tb", "nvme_gb_per_s")  # fmt: skip
_HARDWARE_SPEC = {
    "name": ("str", True, None),
    "vendor": ("str", True, None),
    "bf16_tflop_per_s": ("num", True, None),
    "fp8_tflop_per_s": ("num", False, None),
    "int8_tops": ("num", False, None),
    "fp4_tflop_per_s": ("num", False, None),
    "hbm_gib": ("num", False, None),
    "hbm_gb": ("num", False, None),
    "hbm_gb_per_s": ("num", True, None),
    "host_link_gb_per_s": ("num", True, None),
    "scaleup_gb_per_s": ("num", False, None),
    "ici_link_gb_per_s": ("num", False, "pos"),
    "ici_links_per_axis": ("num", False, "pos"),
    "scaleup_latency_us": ("num", True, None),
    "usd_per_hour": ("num", False, None),
    **{f: ("num", False, None) for f in _OPTIONAL},
    "source": ("url", True, None),
    "sources": ("table", False, None),
    "note": ("str", False, None),
}
_SPECS = {"models": _MODEL_SPEC, "hardware": _HARDWARE_SPEC}
_LEAF_FIELDS = {"models": _MODEL_LEAVES, "hardware": _HARDWARE_LEAVES}
_KEY = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")


def data_dir() -> Path:
    """Where the catalogs are read from: ``$KVJAX_DATA_DIR`` or the package's ``data/``."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    return Path(str(resources.files("kvjax.catalog").joinpath("data")))


def _path(kind: str) -> Path:
    if kind not in FILES:
        raise fail(f"unknown catalog kind{suggest(kind, FILES)}", field="kind", value=kind)
    return data_dir() / FILES[kind]


# ----------------------------------------------------------------------------- validation


def _check_value(path, kind, key, field, value, typ, rule):
    """One field's type and range; raises a located InputError."""
    loc = dict(file=path, entry=key, field=field, value=value)
    if typ == "num":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("not a number", **loc)
        if not math.isfinite(value):
            raise fail("not finite", **loc)
        if field in _LEAF_FIELDS[kind]:  # the leaf's domain, in SI
            leaf, factor = _LEAF_FIELDS[kind][field]
            domain = leaf_info(leaf).domain
            if not domain.contains(value * factor):
                raise fail(f"outside the valid domain of {leaf}: {domain}", **loc)
        elif rule == "pos" and not value > 0:
            raise fail("must be > 0", **loc)
    elif typ in ("str", "url"):
        if not isinstance(value, str):
            raise fail("not a string", **loc)
        if typ == "url" and not value.startswith(("https://", "http://")):
            raise fail("source must be an http(s) URL", **loc)
    elif typ == "bool":
        if not isinstance(value, bool):
            raise fail("not true/false", **loc)
    elif typ == "table":
        if not isinstance(value, dict):
            raise fail("not a table (field -> URL)", **loc)
        spec = _HARDWARE_SPEC
        for sub, url in value.items():
            if sub not in spec:
                raise fail(f"unknown field{suggest(sub, spec)}", path, key, f"{field}.{sub}", url)
            if not isinstance(url, str) or not url.strip():
                raise fail("not a non-empty string", path, key, f"{field}.{sub}", url)


def _check_entry(path, kind: str, key: str, entry) -> None:
    spec = _SPECS[kind]
    if not _KEY.match(key):
        raise fail("entry id must be lowercase letters, digits, '.', '-'", path, key)
    if not isinstance(entry, dict):
        raise fail("entry is not a table", path, key, value=entry)
    for field in entry:
        if field not in spec:
            raise fail(f"unknown field{suggest(field, spec)}", path, key, field, entry[field])
    for field, (typ, required, rule) in spec.items():
        if field not in entry:
            if required:
                what = "missing source URL" if typ == "url" else "missing required field"
                raise fail(what, path, key, field)
            continue
        _check_value(path, kind, key, field, entry[field], typ, rule)
    if kind == "models":
        _check_model(path, key, entry)
    else:
        n_hbm = ("hbm_gib" in entry) + ("hbm_gb" in entry)
        if n_hbm != 1:
            both = "both hbm_gib and hbm_gb given" if n_hbm else "neither hbm_gib nor hbm_gb given"
            raise fail(f"{both}; give exactly one", path, key, "hbm_gib")
        _check_scaleup(path, key, entry)


def _check_scaleup(path, key, e) -> None:
    """``scaleup_gb_per_s``, or TPU ICI as ``ici_link_gb_per_s`` x ``ici_links_per_axis``."""
    ici = ("ici_link_gb_per_s" in e) + ("ici_links_per_axis" in e)
    if ici == 1:
        raise fail("give both ici_link_gb_per_s and ici_links_per_axis", path, key,
                   "ici_links_per_axis" if "ici_link_gb_per_s" in e else "ici_link_gb_per_s")
    if ici and "scaleup_gb_per_s" in e:
        raise fail("give scaleup_gb_per_s or the ICI fields, not both (scale-up = link x "
                   "links per axis)", path, key, "scaleup_gb_per_s", e["scaleup_gb_per_s"])
    if not ici and "scaleup_gb_per_s" not in e:
        raise fail("missing required field", path, key, "scaleup_gb_per_s")


def _check_model(path, key, e) -> None:
    """The rules between a model's leaves (``kvjax.model.RULES``), as for every entry point."""
    values = {f"model.{n}": float(e[n]) for n in Model.leaf_names() if n in e}
    problem = first_problem(values)
    if problem is not None:
        leaf, value, message = problem
        raise fail(message, path, key, leaf.split(".")[1], e.get(leaf.split(".")[1], value))


# ----------------------------------------------------------------------------- conversion


def _convert_model(e: dict) -> dict:
    """Catalog entry -> labels plus the SI leaves of :class:`Model` (plain floats)."""
    out = {
        "name": e["name"],
        "hf_id": e["hf_id"],
        "source": e["source"],
        "params_source": e["params_source"],
        "hypothetical": bool(e.get("hypothetical", False)),
        "note": e.get("note", ""),
        "d_ff": float(e["d_ff"]),
        "vocab_size": float(e["vocab_size"]),
        "max_context_tokens": float(e["max_context_tokens"]),
    }
    for leaf in Model.leaf_names():
        out[leaf] = float(e.get(leaf, _DEFAULTS.get(f"model.{leaf}", 0.0)))
    return out


def _convert_hardware(e: dict) -> dict:
    """Catalog entry -> labels plus SI values (bytes, s, FLOP/s, bytes/s, US$)."""
    hbm = e["hbm_gib"] * GiB if "hbm_gib" in e else e["hbm_gb"] * GB
    fp8 = e.get("fp8_tflop_per_s")
    return {
        "name": e["name"],
        "vendor": e["vendor"],
        "source": e["source"],
        "sources": dict(e.get("sources", {})),
        "note": e.get("note", ""),
        "hypothetical": False,
        "bf16_flop_per_s": float(e["bf16_tflop_per_s"]) * TERA,
        "fp8_flop_per_s": None if fp8 is None else float(fp8) * TERA,
        "int8_flop_per_s": float(e.get("int8_tops", 0.0)) * TERA,
        "fp4_flop_per_s": float(e.get("fp4_tflop_per_s", 0.0)) * TERA,
        "hbm_bytes": float(hbm),
        "hbm_bytes_per_s": float(e["hbm_gb_per_s"]) * GB,
        "host_link_bytes_per_s": float(e["host_link_gb_per_s"]) * GB,
        "scaleup_bytes_per_s": _scaleup_gb_per_s(e) * GB,
        "scaleup_latency_s": float(e["scaleup_latency_us"]) * US,
        "usd_per_hour": float(e.get("usd_per_hour", math.nan)),
        **{
            _HARDWARE_LEAVES[f][0].split(".")[1]: float(e[f]) * _HARDWARE_LEAVES[f][1]
            if f in e else _DEFAULTS[_HARDWARE_LEAVES[f][0]]
            for f in _OPTIONAL
        },  # fmt: skip
    }


def _scaleup_gb_per_s(e: dict) -> float:
    """A collective along one mesh axis: NVLink/xGMI summed over the links (a switch joins
    them all), TPU ICI = one link x the links of one torus axis (a ring along the axis)."""
    if "ici_link_gb_per_s" in e:
        return float(e["ici_link_gb_per_s"]) * float(e["ici_links_per_axis"])
    return float(e["scaleup_gb_per_s"])


def load_catalog_file(path, kind: str) -> dict[str, dict]:
    """Parse, validate and convert one catalog file; ``{entry id: converted dict}``.

    Args:
      path: a TOML file.
      kind: ``"models"`` or ``"hardware"``.

    Raises:
      InputError: one line naming the file, entry, field and value of the first problem.
    """
    if kind not in _SPECS:
        raise fail(f"unknown catalog kind{suggest(kind, _SPECS)}", field="kind", value=kind)
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise fail(f"cannot read catalog: {err.strerror}", file=path) from None
    except tomllib.TOMLDecodeError as err:
        raise fail(f"not valid TOML: {err}", file=path) from None
    if not raw:
        raise fail("catalog has no entries", file=path)
    convert = _convert_model if kind == "models" else _convert_hardware
    out = {}
    for key, entry in raw.items():
        _check_entry(path, kind, key, entry)
        out[key] = convert(entry)
    return out


@functools.lru_cache(maxsize=8)
def _cached(path: str, kind: str) -> dict[str, dict]:
    return load_catalog_file(path, kind)


def _catalog(kind: str) -> dict[str, dict]:
    return _cached(str(_path(kind)), kind)


def _entry(kind: str, name: str) -> dict:
    cat = _catalog(kind)
    if name not in cat:
        what = "model" if kind == "models" else "hardware"
        raise fail(f"unknown {what}{suggest(name, cat)}", _path(kind), field=what, value=name)
    return cat[name]


# ----------------------------------------------------------------------------- public API


def model_names() -> tuple[str, ...]:
    """Every model id in the catalog, in file order."""
    return tuple(_catalog("models"))


def hardware_names() -> tuple[str, ...]:
    """Every hardware id in the catalog, in file order."""
    return tuple(_catalog("hardware"))


def load_model(name: str) -> Model:
    """The :class:`Model` of catalog entry ``name`` (float leaves, neutral defaults filled)."""
    e = _entry("models", name)
    return Model(**{leaf: e[leaf] for leaf in Model.leaf_names()})


def _flop_per_s(name: str, e: dict, precision: str) -> float:
    if precision not in PRECISIONS:
        raise fail(
            f"unknown precision{suggest(precision, PRECISIONS)}", field="precision", value=precision
        )
    value = e[f"{precision}_flop_per_s"]
    if value is None:
        raise fail(
            "this chip has no fp8 tensor rate; use precision='bf16'",
            _path("hardware"),
            name,
            "precision",
            precision,
        )
    return value


def load_hardware(name: str, precision: str = "bf16") -> Hardware:
    """The :class:`Hardware` of catalog entry ``name`` at compute ``precision``.

    Args:
      name: a hardware id (see :func:`hardware_names`).
      precision: ``"bf16"`` (default) or ``"fp8"``; sets ``flop_per_s`` to the dense peak.
        The per-precision peaks (``bf16_flop_per_s``, ``fp8_flop_per_s``, ...) are filled
        from the entry whatever the precision (0 where the chip has none), for the
        operator classes' own compute precisions (``gemm_compute_bits``, ...).

    Raises:
      InputError: unknown name (with a suggestion), or fp8 on a chip without fp8.
    """
    e = _entry("hardware", name)
    return Hardware(
        flop_per_s=_flop_per_s(name, e, precision),
        hbm_bytes=e["hbm_bytes"],
        hbm_bytes_per_s=e["hbm_bytes_per_s"],
        host_link_bytes_per_s=e["host_link_bytes_per_s"],
        scaleup_bytes_per_s=e["scaleup_bytes_per_s"],
        scaleup_latency_s=e["scaleup_latency_s"],
        usd_per_hour=e["usd_per_hour"],
        bf16_flop_per_s=e["bf16_flop_per_s"],
        fp8_flop_per_s=e["fp8_flop_per_s"] or 0.0,
        int8_flop_per_s=e["int8_flop_per_s"],
        fp4_flop_per_s=e["fp4_flop_per_s"],
        **{_HARDWARE_LEAVES[f][0].split(".")[1]: e[_HARDWARE_LEAVES[f][0].split(".")[1]]
           for f in _OPTIONAL},  # fmt: skip
    )


def model_info(name: str) -> dict:
    """Labels (name, hf_id, source, hypothetical, note, ...) and SI values of a model."""
    return {"id": name, **_entry("models", name)}


def hardware_info(name: str) -> dict:
    """Labels (name, vendor, source, sources, note) and SI values of an accelerator."""
    e = _entry("hardware", name)
    return {"id": name, **e, "sources": dict(e["sources"])}


def _stack(trees, cls):
    leaves = {f: jnp.asarray([getattr(t, f) for t in trees]) for f in cls.leaf_names()}
    return cls(**leaves)


def _names(names, kind) -> list[str]:
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise fail("empty list of names", field=kind, value=names)
    return names


def stack_models(names) -> Model:
    """One :class:`Model` whose every leaf is a 1-D array over ``names`` (for ``jax.vmap``)."""
    return _stack([load_model(n) for n in _names(names, "models")], Model)


def stack_hardware(names, precision: str = "bf16") -> Hardware:
    """One :class:`Hardware` whose every leaf is a 1-D array over ``names``."""
    return _stack([load_hardware(n, precision) for n in _names(names, "hardware")], Hardware)


def catalog_hash() -> str:
    """sha256 (hex) of ``hardware.toml`` then ``models.toml`` bytes: provenance of results."""
    h = hashlib.sha256()
    for kind in ("hardware", "models"):
        h.update(_path(kind).read_bytes())
    return h.hexdigest()


def clear_cache() -> None:
    """Forget the parsed catalogs (after editing the files or changing ``KVJAX_DATA_DIR``)."""
    _cached.cache_clear()
