"""Run a Python script under cProfile timed by the process's CPU clock, not the wall clock.

    python bench/cpu_profile.py OUT.prof SCRIPT [ARGS...]

On a shared machine a wall-clock profile charges a function for the time its process
waited for a core (a send on a loopback socket wakes the receiver, which may take the
core mid-call), so the busiest calls look like the slowest. The CPU clock counts only
what the process itself spent. The profile is written when the script exits, also on
SIGTERM.
"""

from __future__ import annotations

import cProfile
import runpy
import signal
import sys
import time


def main() -> None:
    out, script, *args = sys.argv[1:]
    profiler = cProfile.Profile(time.process_time)

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    sys.argv = [script, *args]
    profiler.enable()
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        profiler.disable()
        profiler.dump_stats(out)


if __name__ == "__main__":
    main()
