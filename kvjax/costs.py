"""Every named cost function in one namespace (re-exports; the code lives in
``kvjax/model/_memory.py``, ``_phases.py``, ``_session.py`` and ``_roofline.py``).

Each takes one ``Scenario`` (and sometimes a token count) and returns a scalar, elementwise in
the leaves; ``docs/cost-model.md`` derives and works through every one."""

from .model._memory import active_params as active_params
from .model._memory import concurrency as concurrency
from .model._memory import concurrency_floor as concurrency_floor
from .model._memory import expected_experts_touched as expected_experts_touched
from .model._memory import fits as fits
from .model._memory import fits_one as fits_one
from .model._memory import free_hbm_bytes_per_device as free_hbm_bytes_per_device
from .model._memory import kv_bytes_per_token as kv_bytes_per_token
from .model._memory import kv_bytes_per_user as kv_bytes_per_user
from .model._memory import kv_bytes_per_user_per_device as kv_bytes_per_user_per_device
from .model._memory import kv_elements_per_token_per_layer as kv_elements_per_token_per_layer
from .model._memory import kv_layers as kv_layers
from .model._memory import kv_shards as kv_shards
from .model._memory import kv_tokens_kept as kv_tokens_kept
from .model._memory import weight_bytes as weight_bytes
from .model._memory import weight_bytes_per_device as weight_bytes_per_device
from .model._memory import weight_bytes_touched as weight_bytes_touched
from .model._memory import windowed_tokens as windowed_tokens
from .model._phases import context_switch_s as context_switch_s
from .model._phases import decode_context_tokens as decode_context_tokens
from .model._phases import decode_s as decode_s
from .model._phases import decode_step_bytes as decode_step_bytes
from .model._phases import decode_step_bytes_at as decode_step_bytes_at
from .model._phases import decode_step_flop as decode_step_flop
from .model._phases import decode_step_flop_at as decode_step_flop_at
from .model._phases import decode_step_parts_at as decode_step_parts_at
from .model._phases import decode_step_s as decode_step_s
from .model._phases import decode_step_s_at as decode_step_s_at
from .model._phases import decode_tokens_per_s as decode_tokens_per_s
from .model._phases import decode_tokens_per_s_per_user as decode_tokens_per_s_per_user
from .model._phases import prefill_attention_flop as prefill_attention_flop
from .model._phases import prefill_bytes as prefill_bytes
from .model._phases import prefill_comm_s as prefill_comm_s
from .model._phases import prefill_compute_s as prefill_compute_s
from .model._phases import prefill_flop as prefill_flop
from .model._phases import prefill_memory_s as prefill_memory_s
from .model._phases import prefill_s as prefill_s
from .model._phases import prefill_time_s as prefill_time_s
from .model._phases import swap_time_s as swap_time_s
from .model._phases import tp_comm_s as tp_comm_s
from .model._roofline import ring_allreduce_s as ring_allreduce_s
from .model._roofline import roofline_s as roofline_s
from .model._session import REGIMES as REGIMES
from .model._session import decode_regime as decode_regime
from .model._session import output_tokens_per_s_per_device as output_tokens_per_s_per_device
from .model._session import prefill_regime as prefill_regime
from .model._session import resident_batch as resident_batch
from .model._session import session_gpu_s as session_gpu_s
from .model._session import session_regime as session_regime
from .model._session import session_wall_s as session_wall_s
from .model._session import sessions_per_hour as sessions_per_hour
from .model._session import swap_fraction as swap_fraction
from .model._session import usd_per_million_output_tokens as usd_per_million_output_tokens
from .model._session import usd_per_session as usd_per_session
