"""Every CUDA path of the lab, checked on a GPU machine in a few minutes; a table of what worked.

    python -m benchmarks.gpu_check [--skip-engine] [--timeout 240]

On a machine without a GPU it says "no GPU here" and exits 0. Otherwise it checks, in order:

1. torch sees CUDA (device, capability, CUDA version);
2. FP16 autocast with the gradient scaler trains (finite, falling loss; the scale is used);
3. BF16 autocast trains (where the GPU supports BF16);
4. CUDA memory figures (allocated, peak, reserved) move with an allocation;
5. NVML gauges (utilisation, memory, power, temperature) read through the engine's `Gpus`;
6. NVML energy: the total-energy counter grows under load (hardware-measured joules);
7. a real engine with a CUDA slot, cold runs: a stand-in run sees exactly its GPU
   (CUDA_VISIBLE_DEVICES), and `mixed_precision` at smoke (FP32, BF16, FP16 + scaler) succeeds
   on the GPU with its energy measured through NVML and its peak CUDA memory recorded;
8. the same engine with warm workers: the forked runs initialise CUDA themselves;
9. the language-model experiments at smoke on the GPU (lora_rank, lora_merge,
   compression_pipeline, meta_learning: those the catalog has).

Exit code 0 when every check passed or was skipped with a reason, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.jsonvalue import number_at
from db import Run
from db import RunState as R
from db.states import RUN_ACTIVE, RUN_OK

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT / "tests" / "fixtures"
LM_EXPERIMENTS = ("lora_rank", "lora_merge", "compression_pipeline", "meta_learning")


@dataclass
class Check:
    name: str
    status: str = "skipped"   # ok | FAILED | skipped
    detail: str = ""
    seconds: float = 0.0


class NotApplicableError(Exception):
    """The check does not apply here; the message says why."""


def gpu_presence() -> tuple[bool, str]:
    """(a GPU is usable, what was found), without initialising CUDA in this process first."""
    try:
        import pynvml

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        pynvml.nvmlShutdown()
    except Exception as exc:
        nvml = f"NVML: {type(exc).__name__}: {exc}"
        count = 0
    else:
        nvml = f"NVML sees {count} GPU(s)"
    if count == 0:
        return False, nvml
    try:
        import torch

        if not torch.cuda.is_available():
            return False, f"{nvml}, but torch {torch.__version__} sees no CUDA device"
    except Exception as exc:
        return False, f"{nvml}, but torch cannot be imported: {exc}"
    return True, nvml


def run_checks(checks: list[tuple[str, Callable[[], str]]]) -> list[Check]:
    results = []
    for name, fn in checks:
        check = Check(name)
        t0 = time.perf_counter()
        try:
            check.detail, check.status = fn(), "ok"
        except NotApplicableError as exc:
            check.detail = str(exc)
        except Exception as exc:
            check.status, check.detail = "FAILED", f"{type(exc).__name__}: {exc}"[:400]
        check.seconds = time.perf_counter() - t0
        results.append(check)
        print(f"  {check.status:<7} {name} ({check.seconds:.1f} s)", file=sys.stderr, flush=True)
    return results


def table(results: list[Check]) -> str:
    width = max(len(c.name) for c in results)
    lines = [f"{'check':<{width}}  {'result':<7}  {'time':>6}  detail", "-" * (width + 40)]
    for c in results:
        lines.append(f"{c.name:<{width}}  {c.status:<7}  {c.seconds:>5.1f}s  {c.detail}")
    return "\n".join(lines)


# -- checks in this process ------------------------------------------------------------------

def _mlp(torch: Any) -> tuple[Any, Any, Any]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)).cuda()
    x = torch.randn(512, 64, device="cuda")
    y = (x[:, :10].argmax(dim=1)).cuda()
    return model, x, y


def check_cuda() -> str:
    import torch

    props = torch.cuda.get_device_properties(0)
    return (f"{torch.cuda.device_count()} device(s); 0 = {props.name}, capability {props.major}.{props.minor}, "
            f"{props.total_memory / 2**30:.0f} GiB; torch {torch.__version__}, CUDA {torch.version.cuda}")


def _train(dtype_name: str, steps: int = 60) -> tuple[float, float, Any]:
    import torch

    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[dtype_name]
    model, x, y = _mlp(torch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype_name == "fp16")
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=dtype):
            out = model(x)
            assert out.dtype == dtype, f"autocast produced {out.dtype}, not {dtype}"
            loss = torch.nn.functional.cross_entropy(out, y)
        torch.autograd.backward(scaler.scale(loss))
        scaler.step(opt)
        scaler.update()
        losses.append(float(loss))
    if not all(map(lambda v: v == v and abs(v) != float("inf"), losses)):
        raise AssertionError(f"non-finite loss under {dtype_name}: {losses[-5:]}")
    if not losses[-1] < losses[0]:
        raise AssertionError(f"the loss did not fall under {dtype_name}: {losses[0]:.3f} -> {losses[-1]:.3f}")
    return losses[0], losses[-1], scaler


def check_fp16() -> str:
    first, last, scaler = _train("fp16")
    scale = float(scaler.get_scale())
    if not scale > 0:
        raise AssertionError(f"the gradient scaler's scale is {scale}")
    return f"loss {first:.3f} -> {last:.3f} in 60 steps; GradScaler scale {scale:g}"


def check_bf16() -> str:
    import torch

    if not torch.cuda.is_bf16_supported():
        raise NotApplicableError(f"{torch.cuda.get_device_name(0)} does not support BF16")
    first, last, _ = _train("bf16")
    return f"loss {first:.3f} -> {last:.3f} in 60 steps"


def check_memory() -> str:
    import torch

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    block = torch.empty(64 * 2**20, dtype=torch.uint8, device="cuda")
    after, peak, reserved = torch.cuda.memory_allocated(), torch.cuda.max_memory_allocated(), torch.cuda.memory_reserved()
    del block
    if not (after - before >= 64 * 2**20 and peak >= after and reserved >= after):
        raise AssertionError(f"allocated {before} -> {after}, peak {peak}, reserved {reserved}")
    return (f"64 MiB block: allocated +{(after - before) / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB, "
            f"reserved {reserved / 2**20:.0f} MiB")


def check_nvml_gauges() -> str:
    sys.path.insert(0, str(ROOT))
    from engine.gpus import Gpus

    gpus = Gpus()
    try:
        rows = gpus.sample()
    finally:
        gpus.close()
    if not rows:
        raise AssertionError("the engine's Gpus() sees no GPU")
    row = rows[0]
    missing = [k for k in ("util_pct", "mem_used_bytes", "mem_total_bytes", "power_w", "temp_c") if row.get(k) is None]
    used, total = row.get("mem_used_bytes"), row.get("mem_total_bytes")
    if missing or used is None or total is None:
        raise AssertionError(f"NVML gave no {', '.join(missing)}: {row}")
    return (f"{len(rows)} GPU(s); 0: {row['name']}, {row['util_pct']:.0f} % busy, "
            f"{used / 2**30:.1f}/{total / 2**30:.0f} GiB, "
            f"{row['power_w']:.0f} W, {row['temp_c']:.0f} C")


def check_nvml_energy() -> str:
    import pynvml
    import torch

    pynvml.nvmlInit()
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())
        try:
            before = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # mJ since the driver loaded
        except pynvml.NVMLError as exc:
            raise NotApplicableError(f"this GPU has no total-energy counter ({exc}); codecarbon integrates power "
                                     "instead") from exc
        a = torch.randn(4096, 4096, device="cuda")
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 2.0:
            a = (a @ a).clamp_(-1, 1)
        torch.cuda.synchronize()
        after = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    finally:
        pynvml.nvmlShutdown()
    joules = (after - before) / 1000
    if not joules > 0:
        raise AssertionError(f"the energy counter did not grow ({before} -> {after} mJ)")
    return f"{joules:.0f} J measured over ~2 s of matmuls ({joules / 2:.0f} W average)"


# -- checks through a real engine --------------------------------------------------------------

class Lab:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env

    def cli(self, *args: str, timeout: float = 120) -> Any:
        done = subprocess.run([sys.executable, "-m", "cli", "--dir", str(self.root), *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise AssertionError(f"lab {' '.join(args)}: {(done.stderr or done.stdout).strip()[-300:]}")
        return json.loads(done.stdout) if "--json" in args else done.stdout

    def submit(self, name: str, *params: str, seeds: int = 1) -> int:
        args = ["run", name, "--seeds", str(seeds), "--json"]
        for p in params:
            args += ["-p", p]
        return int(self.cli(*args)["experiment_id"])

    def runs(self, exp_id: int, deadline: float) -> list[Run]:
        while True:
            answer = self.cli("show", str(exp_id), "--json")["runs"]
            if not isinstance(answer, list):
                raise AssertionError(f"`lab show {exp_id} --json` answered no list of runs: {answer!r:.200}")
            runs = Run.many(answer)  # the store's rows as `--json` writes them (Row.to_dict)
            if runs and all(r.status not in RUN_ACTIVE for r in runs):
                return runs
            if time.monotonic() > deadline:
                raise AssertionError(f"experiment {exp_id} did not finish in time: "
                                     f"{[(r.variant, r.status.value) for r in runs]}")
            time.sleep(1.0)


@contextlib.contextmanager
def engine_lab(warm: bool, fake: bool) -> Iterator[Lab]:
    with tempfile.TemporaryDirectory(prefix="joulelab-gpu-") as tmp:
        root = Path(tmp) / "lab"
        root.mkdir()
        (root / "config.toml").write_text(
            "[slots]\ncpu = 2\ngpus = [0]\nper_gpu = 1\n\n[runs]\ntimeout_s = 600\nretries = 0\n\n"
            f"[executor]\nwarm = {'true' if warm else 'false'}\n")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(FAKE), str(ROOT)] if fake else [str(ROOT)])
        if fake:
            env["JOULELAB_EXPERIMENTS_MODULE"] = "fakeexp"
        else:
            env.pop("JOULELAB_EXPERIMENTS_MODULE", None)
        lab = Lab(root, env)
        lab.cli("engine", "start")
        if warm:  # the worker runs on demand: started ahead, so the first run forks from it too
            lab.cli("engine", "warm")
        try:
            yield lab
        finally:
            with contextlib.suppress(Exception):
                lab.cli("engine", "stop")


def check_slot_isolation(warm: bool, budget_s: float) -> str:
    with engine_lab(warm, fake=True) as lab:
        exp_id = lab.submit("fake", "device=cuda")
        (run,) = lab.runs(exp_id, time.monotonic() + budget_s)
    result = run.result or {}
    if run.status != R.SUCCEEDED or run.device != "cuda:0" or result.get("cuda_visible_devices") != "0":
        raise AssertionError(f"run on {run.device}: {run.status.value} {run.error}, "
                             f"CUDA_VISIBLE_DEVICES={result.get('cuda_visible_devices')!r}")
    return "slot cuda:0; the run saw CUDA_VISIBLE_DEVICES=0"


def check_mixed_precision(warm: bool, budget_s: float) -> str:
    with engine_lab(warm, fake=False) as lab:
        exp_id = lab.submit("mixed_precision", "profile=smoke", "device=cuda")
        runs = lab.runs(exp_id, time.monotonic() + budget_s)
        log = (lab.root / "engine.log").read_text()
    bad = [f"{r.variant}: {r.status.value} {r.error or ''}" for r in runs if r.status != R.SUCCEEDED]
    if bad:
        raise AssertionError("; ".join(bad))
    how = "warm" if warm else "cold"
    if f"({how}, pid" not in log:
        raise AssertionError(f"the runs did not start {how}")
    parts = []
    for r in runs:
        res = r.result or {}
        peak = number_at(res, "peak_mem_bytes")
        if res.get("device") != "cuda" or not peak:
            raise AssertionError(f"{r.variant}: device {res.get('device')}, peak memory {res.get('peak_mem_bytes')}")
        if "nvml" not in str(res.get("energy_source")):
            raise AssertionError(f"{r.variant}: energy from {res.get('energy_source')}, not NVML")
        parts.append(f"{r.variant} acc {res.get('test_accuracy', float('nan')):.2f} "
                     f"{peak / 2**20:.0f} MiB {res.get('energy_mode')}")
    return f"{how}: " + ", ".join(parts)


def check_lm_experiments(budget_s: float) -> str:
    with engine_lab(True, fake=False) as lab:
        names = {e["name"] for e in lab.cli("list", "--json")}
        present = [n for n in LM_EXPERIMENTS if n in names]
        if not present:
            raise NotApplicableError(f"none of {', '.join(LM_EXPERIMENTS)} is in this catalog yet")
        deadline = time.monotonic() + budget_s
        ids = {name: lab.submit(name, "profile=smoke", "device=cuda") for name in present}
        out, bad = [], []
        for name, exp_id in ids.items():
            runs = lab.runs(exp_id, deadline)
            ok = [r for r in runs if r.status in RUN_OK]
            out.append(f"{name} {len(ok)}/{len(runs)}")
            bad += [f"{name}/{r.variant}: {r.status.value} {r.error or ''}"[:160] for r in runs if r not in ok]
    if bad:
        raise AssertionError("; ".join(bad[:4]))
    missing = [n for n in LM_EXPERIMENTS if n not in present]
    return ", ".join(out) + (f" (not in the catalog: {', '.join(missing)})" if missing else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check")
    parser.add_argument("--skip-engine", action="store_true", help="only the checks in this process")
    parser.add_argument("--timeout", type=float, default=240, help="seconds for the engine checks, all together")
    args = parser.parse_args(argv)
    present, found = gpu_presence()
    if not present:
        print(f"no GPU here ({found}): nothing to check")
        return 0
    print(f"GPU check: {found}", flush=True)
    started = time.monotonic()

    def left(share: float) -> float:
        return max(30.0, (float(args.timeout) - (time.monotonic() - started)) * share)

    checks: list[tuple[str, Callable[[], str]]] = [
        ("CUDA visible to torch", check_cuda),
        ("FP16 autocast + GradScaler", check_fp16),
        ("BF16 autocast", check_bf16),
        ("CUDA memory figures", check_memory),
        ("NVML gauges (engine)", check_nvml_gauges),
        ("NVML energy counter", check_nvml_energy),
    ]
    if not args.skip_engine:
        checks += [
            ("GPU slot, CUDA_VISIBLE_DEVICES (cold)", lambda: check_slot_isolation(False, left(0.15))),
            ("GPU slot, CUDA_VISIBLE_DEVICES (warm)", lambda: check_slot_isolation(True, left(0.15))),
            ("mixed_precision on a GPU slot (cold)", lambda: check_mixed_precision(False, left(0.25))),
            ("mixed_precision on a GPU slot (warm)", lambda: check_mixed_precision(True, left(0.3))),
            ("LM experiments at smoke on the GPU", lambda: check_lm_experiments(left(0.9))),
        ]
    results = run_checks(checks)
    print(table(results))
    failed = [c for c in results if c.status == "FAILED"]
    print(f"\n{len(results) - len(failed)} of {len(results)} checks passed or were skipped with a reason; "
          f"{len(failed)} failed ({time.monotonic() - started:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
