"""A warm worker: imports the heavy libraries once, then forks one fresh process per run.

    python -m experiments.worker --module experiments [--preload NAME ...]

The engine starts it (``engine/executors/warm.py``) and speaks JSON lines over its stdin and
stdout. The worker's first line says it is ready (what it preloaded and how long it took);
then each request line ``{"id", "argv", "cwd", "env", "stdout", "stderr"}`` is answered by
``{"id", "pid", "start_time"}`` or ``{"id", "error"}``.

Each run is a fork that is exactly what a cold ``python -m MODULE NAME --spec spec.json`` would
be, without paying for the imports again: it leads its own session and process group (setsid),
gets the run's environment (secrets already stripped by the engine) before anything runs,
sets its thread counts, writes its pid and, at the end, its exit code to the run directory
(the engine re-attaches to it by pid and start time, like any run), and leaves with
``os._exit`` so nothing of the worker runs twice. A fresh fork per run: no state leaks between
runs. The parent never runs a torch operation, never initialises CUDA and never creates an
energy tracker (those belong to the child); it refuses to fork while it has more than one
thread. It exits when its stdin closes (the engine stopped or died); runs already forked go on,
they are not its process group.

Stdlib only at import: it must never import the lab (experiments room rule).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import os
import pkgutil
import runpy
import signal
import sys
import time
import traceback
from typing import Any

from contract.runfiles import EXIT_FILE, PID_FILE
from contract.warmworker import Forked, ForkRequest, MessageError, Ready, Refused, encode, parse_request, request_id

#: what a worker for the experiments package imports before its first fork; "pkg.*" means
#: the package and every module in it. torch._dynamo is imported by torch's optimisers on
#: first use (about a second); codecarbon's hardware probe is pre-paid by `prepay_codecarbon`.
#: The language-model stack (transformers, peft, tokenizers and the harness's lm modules) costs a
#: run about 2.4 s to import; none of it starts a thread when loaded (checked at every fork).
#: It is loaded through ``experiments.lm``, which declares the hub offline before huggingface_hub
#: reads its settings: never list transformers or peft before it. A technique imports its
#: program's libraries inside its functions (experiments/techniques/), so those (the deployment
#: formats, the fine-tuning loop) are listed here themselves.
EXPERIMENTS_PRELOAD = ("numpy", "torch", "torch.nn", "torch.optim", "torch._dynamo", "sklearn",
                       "experiments.command_line", "experiments.runner", "experiments.harness.*",
                       "codecarbon", "experiments.lm.*", "experiments.deploy.*", "experiments.finetune.*",
                       "experiments.techniques.*")


def default_preload(module: str) -> list[str]:
    return list(EXPERIMENTS_PRELOAD) if module == "experiments" else []


def _import(name: str) -> list[str]:
    """Import `name` (or, for "pkg.*", the package and its modules); the names imported."""
    if not name.endswith(".*"):
        importlib.import_module(name)
        return [name]
    package = importlib.import_module(name[:-2])
    done = [package.__name__]
    for info in pkgutil.iter_modules(getattr(package, "__path__", []), package.__name__ + "."):
        importlib.import_module(info.name)
        done.append(info.name)
    return done


def prepay_codecarbon() -> str:
    """codecarbon's first tracker in a process spends about a second probing the hardware:
    the CPU model (py-cpuinfo starts a subprocess) and its power from codecarbon's CPU table.
    Both end in plain data cached at module level, which a fork inherits, so the probe is made
    here once. No tracker is created: trackers (and their threads) live only in the runs."""
    try:
        import codecarbon.external.geography  # noqa: F401  (imports requests, ~0.5 s)
        from codecarbon.core import cpu
        from codecarbon.core.hardware_cache import get_cached_tdp
    except Exception as exc:  # another codecarbon version: the runs probe for themselves
        return f"not pre-paid ({type(exc).__name__}: {exc})"
    import logging

    logger = logging.getLogger("codecarbon")
    was_disabled, logger.disabled = logger.disabled, True  # its "unknown CPU" warnings are the runs' to give
    try:
        get_cached_tdp(cpu)  # type: ignore[no-untyped-call]  # codecarbon's function is unannotated
    except Exception as exc:
        return f"hardware probe failed ({type(exc).__name__}: {exc})"
    finally:
        logger.disabled = was_disabled
    return "hardware probe pre-paid"


def _prepay_metadata() -> None:
    """The first look-up of an installed package's version indexes every sys.path entry
    (~20 ms) and each look-up parses a METADATA file; runs record their library versions, so
    the harness reads them once here when it is loaded."""
    try:
        runtime = sys.modules.get("experiments.harness.runtime")
        if runtime is not None and hasattr(runtime, "package_versions"):
            runtime.package_versions()
        else:
            from importlib import metadata
            metadata.version("pip")
    except Exception:
        pass


def thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading
        return threading.active_count()


def _start_time(pid: int) -> float | None:
    try:
        import psutil
        return float(psutil.Process(pid).create_time())
    except Exception:
        return None


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _reap(signum: int = 0, frame: Any = None) -> None:
    """Collect ended runs (no zombies). A run writes its own exit code; one killed by a signal
    has none, as a cold run whose process group was killed: the engine calls it interrupted."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _child(request: ForkRequest, session_set: int) -> None:
    """In the forked child: become the run. Never returns. Writes to `session_set` once it
    leads its own session, which the worker waits for before it answers with the pid."""
    code = 1
    cwd = request.cwd
    try:
        _own_session(session_set)
        os.chdir(cwd)
        _redirect(request)
        os.environ.clear()
        os.environ.update(request.env)
        _set_threads(request.env)
        _write_atomic(os.path.join(cwd, PID_FILE), f"{os.getpid()}\n")
        code = _run_module(list(request.argv), cwd)
    finally:
        code %= 256
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        with contextlib.suppress(BaseException):
            _write_atomic(os.path.join(cwd, EXIT_FILE), f"{code}\n")
        os._exit(code)


def _own_session(session_set: int) -> None:
    """The child leads its own session (said on `session_set`), with the signal dispositions and
    exit handlers a fresh interpreter starts with."""
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    try:
        os.setsid()
    finally:
        os.write(session_set, b"s")
        os.close(session_set)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    atexit._clear()  # the worker's exit handlers are not the run's


def _redirect(request: ForkRequest) -> None:
    """Standard input from /dev/null, output and errors to the request's files; nothing else open."""
    fd_in = os.open(os.devnull, os.O_RDONLY)
    fd_out = os.open(request.stdout, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    fd_err = os.open(request.stderr, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd_in, 0)
    os.dup2(fd_out, 1)
    os.dup2(fd_err, 2)
    os.closerange(3, 65536)  # the worker's pipes and files are not the run's
    # the run's standard streams, open for the rest of the process
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115


def _run_module(argv: list[str], cwd: str) -> int:
    """`python -m` of `argv` started in `cwd`, its exit handlers run after it: its exit code."""
    sys.argv = argv
    sys.path[0] = cwd  # as `python -m` started in the run directory
    code = 1
    try:
        runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    return code


def _set_threads(env: dict[str, str]) -> None:
    """The thread counts of the run: libraries loaded in the worker read OMP_NUM_THREADS when
    they were loaded (the worker's 1), so they are told again."""
    try:
        threads = max(1, int(env.get("OMP_NUM_THREADS", "1")))
    except ValueError:
        threads = 1
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    # BLAS libraries already run 1 thread (the worker's setting); others are told (~50 ms)
    if threads != 1 and ("threadpoolctl" in sys.modules or "sklearn" in sys.modules):
        try:
            from threadpoolctl import threadpool_limits
            threadpool_limits(threads)
        except Exception:
            pass


def fork_run(request: ForkRequest) -> Forked | Refused:
    threads = thread_count()
    if threads != 1:
        return Refused(id=request.id, error=f"the worker has {threads} threads; forking it is unsafe")
    sys.stdout.flush()
    sys.stderr.flush()
    # no reaping between the fork and reading the child's start time: a run that ends at once
    # stays a zombie until then, so its identity can still be read
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    # the pid is answered only once the child leads its own session: the engine may signal its
    # process group at once (a cancel), and a test reads its session id
    session_set, told = os.pipe()
    try:
        try:
            pid = os.fork()
        except OSError:
            os.close(told)
            raise
        if pid == 0:
            os.close(session_set)
            _child(request, told)
        os.close(told)
        os.read(session_set, 1)  # b"" if the child died first
        started = _start_time(pid)
    finally:
        os.close(session_set)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    return Forked(id=request.id, pid=pid, start_time=started)


def _send(out: Any, message: Ready | Forked | Refused) -> None:
    out.write(encode(message))
    out.flush()


#: set before the imports: libraries that would otherwise start threads when loaded (a forked
#: child has only the forking thread; locks held by the others stay locked in it forever)
QUIET_THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                 "JE_ARROW_MALLOC_CONF": "background_thread:false"}  # pyarrow's jemalloc (via sklearn)


def serve(module: str, preload: list[str]) -> int:
    for name, value in QUIET_THREADS.items():
        os.environ.setdefault(name, value)
    # the protocol owns stdout; anything a preloaded library prints goes to stderr
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    t0 = time.perf_counter()
    imported, failed = [], {}
    for name in [module, *preload]:
        try:
            imported += _import(name)
        except BaseException as exc:  # a missing optional library only makes its runs slower
            failed[name] = f"{type(exc).__name__}: {exc}"
    codecarbon = prepay_codecarbon() if "codecarbon" in sys.modules else "not loaded"
    _prepay_metadata()
    # everything imported so far lives as long as the worker: frozen, a run's gc.collect() does
    # not walk it (~0.15 s per collection with torch loaded), and the fork's pages holding it
    # stay shared instead of being copied when the collector touches their headers
    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Ctrl-C on `lab engine run` reaches the engine's whole process group: the engine stops and
    # closes our stdin, which is how the worker leaves
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _send(out, Ready(pid=os.getpid(), module=module, imported=len(imported), failed=failed, codecarbon=codecarbon,
                     threads=thread_count(), seconds=round(time.perf_counter() - t0, 3)))
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            request = parse_request(line)
        except MessageError as exc:
            _send(out, Refused(id=request_id(line), error=f"bad request: {exc}"))
            continue
        try:
            _send(out, fork_run(request))
        except OSError as exc:
            _send(out, Refused(id=request.id, error=f"fork failed: {exc}"))
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m experiments.worker")
    parser.add_argument("--module", default="experiments", help="the package runs are `python -m` of")
    parser.add_argument("--preload", action="append", default=None,
                        help="a module to import before forking (repeatable; pkg.* for a whole package)")
    args = parser.parse_args(argv)
    preload = args.preload if args.preload is not None else default_preload(args.module)
    return serve(args.module, preload)


if __name__ == "__main__":
    sys.exit(main())
