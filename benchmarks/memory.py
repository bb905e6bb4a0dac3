"""Peak memory of a benchmark's process.

Not resource.getrusage(RUSAGE_SELF).ru_maxrss: Linux carries that figure across exec, so a child
process started from a large parent reports the parent's peak. VmHWM in /proc is the peak of the
process's own memory since it started its program.
"""
from pathlib import Path


def peak_rss_mb(pid: int | str = "self") -> float:
    """The peak resident set size of the process (VmHWM), in MB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0
