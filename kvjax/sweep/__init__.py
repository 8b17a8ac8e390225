"""The sweep engine: a TOML spec's grid evaluated chunk by chunk under one ``jit`` into a
labelled zarr v3 store, resumable after a kill, on one machine or many.

Flow (each step one module, each importing only the ones before it)::

    specs/*.toml --_parse--> SweepSpec (_spec) --_plan--> Plan (axes, chunks, per-variable dims
    read off each metric's jaxpr by kvjax.model._deps) --_kernel--> jit(chunk kernel)
    --_chunks--> the chunk API (compile, compute, write, mark done, create, finalize)
    --_zarr_writer / _storage--> zarr v3 store (a directory or an fsspec URL), labelled by
    _dataset --open_sweep--> xarray.Dataset

The chunk API is driven by one process (_run: ``run_sweep``), by Dask tasks (_distributed:
``run_sweep(..., dask=...)``) or by batch-scheduler shards (_shards: ``run_shard``).  The
format of specs and stores is documented in ``docs/sweeps.md``; running on a cluster in
``docs/scale-out.md``.
"""

from ._cache import cache_dir as cache_dir
from ._cache import enable_compile_cache as enable_compile_cache
from ._chunks import ChunkKernel as ChunkKernel
from ._chunks import Interrupted as Interrupted
from ._chunks import check_store as check_store
from ._chunks import compile_kernel as compile_kernel
from ._chunks import compute_chunk as compute_chunk
from ._chunks import create_template as create_template
from ._chunks import finalize as finalize
from ._chunks import mark_done as mark_done
from ._chunks import missing_chunks as missing_chunks
from ._chunks import run_chunks as run_chunks
from ._chunks import shard_range as shard_range
from ._chunks import write_chunk as write_chunk
from ._dataset import attr_list as attr_list
from ._dataset import completeness as completeness
from ._dataset import info as info
from ._dataset import open_sweep as open_sweep
from ._dataset import utc_now as utc_now
from ._distributed import chunk_task as chunk_task
from ._distributed import dask_client as dask_client
from ._distributed import parse_address as parse_address
from ._distributed import require_dask as require_dask
from ._distributed import worker_kernel as worker_kernel
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
from ._run import SweepReport as SweepReport
from ._run import dry_run as dry_run
from ._run import run_sweep as run_sweep
from ._shards import finalize_store as finalize_store
from ._shards import parse_shard as parse_shard
from ._shards import run_shard as run_shard
from ._spec import DEFAULT_BLOCK_POINTS as DEFAULT_BLOCK_POINTS
from ._spec import ELASTICITY_VAR as ELASTICITY_VAR
from ._spec import Axis as Axis
from ._spec import ElasticitySpec as ElasticitySpec
from ._spec import SweepSpec as SweepSpec
from ._spec import base_leaves as base_leaves
from ._spec import catalog_axis_leaves as catalog_axis_leaves
from ._storage import is_url as is_url
from ._storage import store_files as store_files
from ._zarr_writer import META_GROUP as META_GROUP
from ._zarr_writer import STATUS_KEY as STATUS_KEY
from ._zarr_writer import ChunkWriter as ChunkWriter
from ._zarr_writer import done_chunks as done_chunks
from ._zarr_writer import is_kvjax_store as is_kvjax_store
from ._zarr_writer import read_attrs as read_attrs
