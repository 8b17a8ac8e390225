"""The sweep engine: a TOML spec's grid evaluated chunk by chunk under one ``jit`` into a
labelled zarr v3 store, resumable after a kill.

Flow (each step one module, each importing only the ones before it)::

    specs/*.toml --_parse--> SweepSpec (_spec) --_plan--> Plan (axes, chunks, per-variable dims
    read off each metric's jaxpr by _deps) --_kernel--> jit(chunk kernel) --_run--> chunk loop
    --_zarr_writer--> zarr v3 store, labelled by _dataset --open_sweep--> xarray.Dataset

The format of specs and stores is documented in ``docs/sweeps.md``.
"""

from ._cache import cache_dir as cache_dir
from ._cache import enable_compile_cache as enable_compile_cache
from ._dataset import attr_list as attr_list
from ._dataset import completeness as completeness
from ._dataset import info as info
from ._dataset import open_sweep as open_sweep
from ._dataset import utc_now as utc_now
from ._kernel import block_split as block_split
from ._kernel import build_kernel as build_kernel
from ._outputs import StoreLock as StoreLock
from ._outputs import Verification as Verification
from ._outputs import check_output_path as check_output_path
from ._outputs import pending_path as pending_path
from ._outputs import safe_output as safe_output
from ._outputs import verify as verify
from ._parse import builtin_names as builtin_names
from ._parse import load_spec as load_spec
from ._parse import parse_spec as parse_spec
from ._parse import parse_text as parse_text
from ._plan import Plan as Plan
from ._plan import chunk_shape as chunk_shape
from ._plan import chunk_slices as chunk_slices
from ._plan import padded_axes as padded_axes
from ._plan import plan_sweep as plan_sweep
from ._run import STOP as STOP
from ._run import Interrupted as Interrupted
from ._run import SweepReport as SweepReport
from ._run import dry_run as dry_run
from ._run import run_sweep as run_sweep
from ._spec import DEFAULT_BLOCK_POINTS as DEFAULT_BLOCK_POINTS
from ._spec import ELASTICITY_VAR as ELASTICITY_VAR
from ._spec import Axis as Axis
from ._spec import ElasticitySpec as ElasticitySpec
from ._spec import SweepSpec as SweepSpec
from ._spec import base_leaves as base_leaves
from ._spec import catalog_axis_leaves as catalog_axis_leaves
from ._zarr_writer import META_GROUP as META_GROUP
from ._zarr_writer import STATUS_KEY as STATUS_KEY
from ._zarr_writer import done_chunks as done_chunks
from ._zarr_writer import is_kvjax_store as is_kvjax_store
from ._zarr_writer import read_attrs as read_attrs
