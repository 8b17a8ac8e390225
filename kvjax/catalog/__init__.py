"""The model and hardware catalogs: TOML in human units -> checked, SI, stackable PyTrees.

The catalogs are two TOML files shipped inside the package (``kvjax/catalog/data/``; the
top-level ``data/`` holds links to them; set ``KVJAX_DATA_DIR`` to read another directory).
Each file is parsed, validated and converted to SI *once* (cached); every bad value raises a
one-line :class:`~kvjax.errors.InputError` naming the file, the entry, the field and the value.

>>> from kvjax import catalog
>>> catalog.load_hardware("a100-80gb-sxm").hbm_bytes
85899345920.0
>>> int(catalog.load_model("yi-34b").n_kv_heads)
8

Names and sources live in :func:`model_info` / :func:`hardware_info`, outside the trees.
A local Hugging Face ``config.json`` becomes a :class:`~kvjax.model.Model` with
:func:`model_from_hf_config`.
"""

from ..errors import InputError as InputError
from ._deployments import deployment_scenario as deployment_scenario
from ._deployments import load_deployments as load_deployments
from ._deployments import load_deployments_file as load_deployments_file
from ._hf_config import SUPPORTED as SUPPORTED
from ._hf_config import model_from_hf_config as model_from_hf_config
from ._loader import DATA_ENV as DATA_ENV
from ._loader import PRECISIONS as PRECISIONS
from ._loader import catalog_hash as catalog_hash
from ._loader import clear_cache as clear_cache
from ._loader import data_dir as data_dir
from ._loader import hardware_info as hardware_info
from ._loader import hardware_names as hardware_names
from ._loader import load_catalog_file as load_catalog_file
from ._loader import load_hardware as load_hardware
from ._loader import load_model as load_model
from ._loader import model_info as model_info
from ._loader import model_names as model_names
from ._loader import stack_hardware as stack_hardware
from ._loader import stack_models as stack_models
