"""Peak memory of a benchmark's process.

Not resource.getrusage(RUSAGE_SELF).ru_maxrss: Linux carries that figure across exec, so a child
process started from a large parent reports the parent's peak. VmHWM in /proc is the peak of the
process's own memory since it started its program.
"""
import os
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


def cpu_seconds(pid: int | str = "self") -> float:
    """User and system CPU time the process has used so far (0 when it is gone or not on this machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
