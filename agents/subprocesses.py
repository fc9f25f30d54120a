"""`python -m <module> ...` as a child process, the one way the lab runs its own helpers: the
validator (`run_validator`, from the engine and the sprint host), the report writer (`python -m
records report`) and a research sprint asked from the control room (`python -m cli sprint`).

The child's stdin is closed and its stderr is kept for the one line that says why it failed; it is
killed at the timeout, and when the awaiting task is cancelled (the caller is stopping: whatever the
child did not finish is taken up again by the next host).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from contract import units


@dataclass(frozen=True)
class Finished:
    code: int | None            # None: killed at the timeout
    out: str                    # stdout, when asked for
    err: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def why(self) -> str:
        """The child's last line on stderr (its one-line error), else its exit code."""
        lines = [line for line in self.err.strip().splitlines() if line.strip()]
        return lines[-1][:300] if lines else f"exit code {self.code}"


async def run_python(args: Sequence[str], *, timeout: float | None, stdout: bool = False,
                     env: dict[str, str] | None = None, own_session: bool = False) -> Finished:
    """`sys.executable *args`; OSError when it cannot start."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE if stdout else asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env=env, start_new_session=own_session)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return Finished(None, "", f"ran longer than {units.duration(timeout)}")
    except asyncio.CancelledError:
        proc.kill()
        raise
    return Finished(proc.returncode, (out or b"").decode("utf-8", "replace"), err.decode("utf-8", "replace"))


VALIDATE_TIMEOUT_S = 600.0


async def run_validator(lab_root: str, exp_id: int, timeout: float = VALIDATE_TIMEOUT_S) -> Finished:
    """`python -m agents validate <exp_id> --dir <lab>`: rates the experiment in a child, so scipy
    never loads in the caller (the engine, the sprint host). OSError when it cannot start."""
    return await run_python(["-m", "agents", "validate", str(exp_id), "--dir", str(lab_root)], timeout=timeout)
