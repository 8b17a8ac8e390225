#!/bin/bash
# aiconfigurator 0.12.0 speed-of-light (--database-mode SOL) single-point estimates.
# Usage: bash run_sol.sh   (writes raw/<scenario>.txt; parse_sol.py builds sol.csv)
# Each scenario: id model system gemm_quant kv_quant isl osl batch tp [extra flags]
cd "$(dirname "$0")"
AIC=venv/bin/aiconfigurator
while read -r id model system gq kq isl osl bs tp extra; do
  [ -z "$id" ] && continue; case "$id" in \#*) continue;; esac
  cmd="aiconfigurator cli estimate --model-path $model --system $system --backend trtllm --estimate-mode static --database-mode SOL --gemm-quant-mode $gq --kvcache-quant-mode $kq --fmha-quant-mode bfloat16 --isl $isl --osl $osl --batch-size $bs --tp-size $tp $extra --detail all"
  echo "$cmd" > raw/$id.cmd
  venv/bin/python aic_all_ops.py cli estimate --model-path $model --system $system --backend trtllm \
    --estimate-mode static --database-mode SOL --gemm-quant-mode $gq --kvcache-quant-mode $kq \
    --fmha-quant-mode bfloat16 --isl $isl --osl $osl --batch-size $bs --tp-size $tp $extra \
    --detail all > raw/$id.txt 2>&1
  echo "$id rc=$?"
done < "${SCENARIOS:-scenarios.txt}"
