"""Two stand-in catalog entries whose numbers exercise every kind of quantity (issue 22): an image
entry (accuracy, bytes, milliseconds, modelled energy so noisy that its interval would cross 0,
a variant whose reference is under-budgeted, so its comparison is void) and a language-model
entry (perplexity near 145 with a declared 10 % margin, a size of 342741 bytes, a quality
objective whose gain is a lower perplexity). Deterministic numbers, no torch; run as
`python -m tests.records.unitsexp` (JOULELAB_EXPERIMENTS_MODULE)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

COMMON = [
    {"name": "profile", "type": "choice", "default": "smoke", "choices": ["smoke", "default", "full"], "help": ""},
    {"name": "device", "type": "choice", "default": "cpu", "choices": ["cpu", "cuda"], "help": ""},
    {"name": "dataset", "type": "choice", "default": "synthetic", "choices": ["synthetic"], "help": ""},
]
METRICS = {"energy": "energy_inference_kwh", "time": "latency_ms", "size": "model_size_bytes"}


def variant(name: str, refs: list[str], objective: str | None, baseline: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "baseline": baseline, "depends_on": [], "params": {}, "references": refs,
                           "objective": objective}
    if refs:
        out["reference"] = refs[0]
    return out


PLANS = {
    # the baseline is named "baseline": no output may say "the baseline baseline"
    "image_units": [variant("baseline", [], None, True), variant("int8", ["baseline"], "size"),
                    variant("short", [], None), variant("pruned", ["short"], "latency")],
    "lm_units": [variant("base", [], None, True), variant("int4", ["base"], "size"),
                 variant("tuned", ["base"], "quality")],
}
ENTRIES = [
    {"name": "image_units", "title": "image units", "area": "test", "gain_phase": "inference",
     "summary": "an image stand-in", "literature": "-", "references": [], "baseline": "baseline",
     "metrics": {"quality": "test_accuracy", **METRICS}, "params": COMMON, "headline": "int8"},
    {"name": "lm_units", "title": "language-model units", "area": "test", "gain_phase": "inference",
     "summary": "a language-model stand-in", "literature": "-", "references": [], "baseline": "base",
     "metrics": {"quality": "test_perplexity", **METRICS}, "params": COMMON, "headline": "int4",
     "quality_margin": 0.10},
]

#: per seed (0, 1, 2): values chosen so every kind shows (a spread, an interval crossing 0)
NOISE = (0.0, 1.0, -0.8)
ENERGY = (2e-8, 5e-7, 1.5e-6)  # modelled energy so uneven that its t-interval reaches below 0


def image(name: str, seed: int) -> dict[str, Any]:
    i = seed % 3
    acc = {"baseline": 0.912, "int8": 0.910, "short": 0.850, "pruned": 0.905}[name] + 0.003 * NOISE[i] \
        + (0.001 * i if name == "int8" else 0.0)
    return {"test_accuracy": acc, "val_accuracy": acc - 0.002,
            "model_size_bytes": {"baseline": 1_371_000, "int8": 342_741, "short": 900_000, "pruned": 700_000}[name],
            "latency_ms": {"baseline": 2.0, "int8": 1.2, "short": 1.9, "pruned": 1.5}[name] + 0.05 * i,
            "energy_inference_kwh": ENERGY[i] * {"baseline": 1.0, "int8": 0.5, "short": 1.0, "pruned": 0.8}[name],
            "budget_steps": 500 if name == "short" else 1000}


def lm(name: str, seed: int) -> dict[str, Any]:
    i = seed % 3
    ppl = {"base": 145.05, "int4": 145.14, "tuned": 140.2}[name] + {"base": 1.3, "int4": 1.1, "tuned": 1.5}[name] * NOISE[i] \
        + (0.4 * i if name == "int4" else 0.0)
    return {"test_perplexity": ppl, "val_perplexity": ppl + 0.5,
            "model_size_bytes": {"base": 1_512_345, "int4": 342_741, "tuned": 1_512_345}[name],
            "latency_ms": {"base": 3.0, "int4": 2.1, "tuned": 3.0}[name] + 0.1 * i,
            "energy_inference_kwh": 3e-7 + 1e-8 * i, "budget_steps": 1000}


def result(entry: str, name: str, seed: int) -> dict[str, Any]:
    values = image(name, seed) if entry == "image_units" else lm(name, seed)
    return {**values, "diverged": False, "energy_kwh": values["energy_inference_kwh"], "energy_mode": "modelled",
            "energy_source": "codecarbon:cpu_load", "seed": seed, "versions": {"python": "3"}}


def main(argv: list[str]) -> int:
    if argv[:1] == ["catalog"]:
        print(json.dumps({"protocol": 2, "experiments": ENTRIES}))
        return 0
    if argv[:1] == ["plan"]:
        params = json.loads(argv[argv.index("--params") + 1])
        entry = next((e for e in ENTRIES if e["name"] == argv[1]), None)
        unknown = [k for k in params if k not in {p["name"] for p in COMMON}]
        if entry is None or unknown:
            print(json.dumps({"ok": False, "errors": [{"param": None, "message": f"unknown {argv[1]} {unknown}"}]}))
            return 2
        resolved = {p["name"]: params.get(p["name"], p["default"]) for p in COMMON}
        print(json.dumps({"ok": True, "name": entry["name"], "params": resolved, "variants": PLANS[entry["name"]],
                          "headline": entry["headline"]}))
        return 0
    if len(argv) >= 3 and argv[1] == "--spec":
        with open(argv[2]) as fh:
            spec = json.load(fh)
        with open(spec["events_path"], "a") as fh:
            values = result(argv[0], spec["variant"], int(spec["seed"]))
            fh.write(json.dumps({"type": "result", "values": values, "t": time.time()}) + "\n")
        return 0
    print("usage: unitsexp catalog --json | plan NAME --params JSON | NAME --spec FILE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
