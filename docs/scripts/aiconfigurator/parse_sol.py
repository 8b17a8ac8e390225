"""raw/<id>.txt (aiconfigurator estimate --detail all) -> sol.csv and ops.json.

sol.csv: one row per scenario; prefill_s from the batch-1 companion run (<id>.pf) when
there is one (kvjax's prefill_s is one user's prompt), decode_step_s = TPOT at osl 2 (one
generation step reading isl + 1 tokens of context per user, at the scenario's batch).
*_sol_only_s: the sum of the ops aiconfigurator itself computes from its SOL formulas
(source [sol]); the others (collectives, MoE dispatch) come from its empirical or
measured tables even in SOL mode.
"""

import csv
import json
import re
from pathlib import Path

RAW = Path(__file__).parent / "raw"
OP = re.compile(r"^\s+(\w+)\s+([\d.]+) ms\s+([\d.]+) ms\s+[\d.]+%.*\[(\w+)\]\s*$")


def parse(path):
    text = path.read_text()
    out = {
        "ttft_ms": float(re.search(r"TTFT:\s+([\d.]+) ms", text)[1]),
        "tpot_ms": float(re.search(r"TPOT:\s+([\d.]+) ms", text)[1]),
        "version": re.search(r"AIConfigurator version: ([\w.]+)", text)[1],
        "quant": (re.search(r"Resolved quant modes for \w+: (.*)", text) or [None, ""])[1],
        "context": {},
        "generation": {},
    }
    phase = None
    for line in text.splitlines():
        if line.startswith("Context phase"):
            phase = "context"
        elif line.startswith("Generation phase"):
            phase = "generation"
        elif line.startswith(("Context energy", "Data Source")):
            phase = None
        elif phase and (m := OP.match(line)):
            out[phase][m[1]] = (float(m[2]), m[4])
    return out


def main():
    scen = [
        ln.split()
        for ln in (RAW.parent / "scenarios.txt").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    parsed = {s[0]: parse(RAW / f"{s[0]}.txt") for s in scen}
    rows = []
    for s in scen:
        sid, model, system, gq, kq, isl, osl, bs, tp = s[:9]
        if sid.endswith(".pf"):
            continue
        d = parsed[sid]
        pf_id = sid + ".pf" if sid + ".pf" in parsed else sid
        pf = parsed[pf_id]
        sol_only = lambda ph, p: sum(v for v, src in p[ph].values() if src == "sol") / 1e3  # noqa: E731
        cmds = [(RAW / f"{i}.cmd").read_text().strip() for i in dict.fromkeys([pf_id, sid])]
        rows.append(
            dict(
                scenario=sid,
                model=model,
                gpu=system,
                precision=f"gemm={gq} kv={kq} fmha=bfloat16",
                isl=isl,
                osl=osl,
                batch=bs,
                tp=tp,
                prefill_batch=1 if pf_id != sid else bs,
                prefill_s=round(pf["ttft_ms"] / 1e3, 9),
                decode_step_s=round(d["tpot_ms"] / 1e3, 9),
                prefill_sol_only_s=round(sol_only("context", pf), 9),
                decode_sol_only_s=round(sol_only("generation", d), 9),
                tool=f"aiconfigurator {d['version']}",
                source_command=" ; ".join(cmds),
            )
        )
    with open(RAW.parent / "sol.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (RAW.parent / "ops.json").write_text(json.dumps(parsed, indent=1))
    for r in rows:
        print(
            r["scenario"],
            r["prefill_s"],
            r["decode_step_s"],
            r["prefill_sol_only_s"],
            r["decode_sol_only_s"],
        )


if __name__ == "__main__":
    main()
