"""Whole-process measurements for bench/run_bench.py: wall time and peak RSS of one child, the machine."""
import os
import platform
import re
import subprocess
import tempfile
import time


class ProcessError(Exception):
    pass


def run_measured(command, env=None):
    """Runs `command` (argv list) under /usr/bin/time, returns dict(seconds (wall), cpu (user+sys seconds),
    rss (peak resident bytes of that process alone)). Going through time(1) matters: a child forked from
    this Python process inherits its peak RSS in getrusage/wait4, time(1)'s own child does not.
    Raises ProcessError with the output on failure."""
    with tempfile.NamedTemporaryFile(mode="r") as usage, tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        child = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", usage.name, *map(str, command)],
                               stdout=out, stderr=subprocess.STDOUT, env=env)
        seconds = time.perf_counter() - start
        if child.returncode != 0:
            out.seek(0)
            text = out.read().decode(errors="replace")[-3000:]
            raise ProcessError(f"{' '.join(map(str, command))} exited {child.returncode}:\n{text}")
        max_kib, user, system = usage.read().split()[-3:]
    return dict(seconds=seconds, cpu=float(user) + float(system), rss=int(max_kib) * 1024)


def median_run(command, repeats, env=None):
    """The run with the median wall time over `repeats` runs (after one warm-up run), with the largest
    peak RSS of them all."""
    run_measured(command, env)
    results = sorted((run_measured(command, env) for _ in range(repeats)), key=lambda r: r["seconds"])
    return dict(results[len(results) // 2], rss=max(r["rss"] for r in results))


def machine():
    """CPU model, core count, memory and OS, as shown in the report."""
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "memory_gib": None}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        fields = dict(re.findall(r"^([^:]+):\s*(.*)$", lscpu, re.M))
        info["cpu"] = fields.get("Model name", info["cpu"])
        info["flags_note"] = ", ".join(f for f in ("avx2", "fma", "f16c", "avx512f") if f in fields.get("Flags", "").split())
    except (OSError, subprocess.CalledProcessError):
        pass
    with open("/proc/meminfo") as f:
        total_kib = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
    info["memory_gib"] = total_kib / (1 << 20)
    info["os"] = platform.platform()
    info["compiler"] = subprocess.run(["c++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return info


def load_average():
    return os.getloadavg()


def git_revision(root):
    try:
        rev = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def blas_info():
    """Which BLAS numpy runs on (threadpoolctl), for the baselines' footnote."""
    try:
        import numpy  # noqa: F401  (loads the BLAS)
        from threadpoolctl import threadpool_info

        return "; ".join(f"{p.get('internal_api')} {p.get('version') or ''} {p.get('architecture') or ''} "
                         f"threads={p.get('num_threads')}".strip() for p in threadpool_info())
    except ImportError:
        return "threadpoolctl not installed"


def profile(command, data_path, top=8):
    """The hottest symbols of one run of `command` under `perf record -e cpu-clock` (software clock: this VM
    has no hardware counters), as [(percent, symbol)], or a string saying why there is no profile."""
    try:
        subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000", "-o", data_path, "--", *command],
                       check=True, capture_output=True)
        text = subprocess.run(["perf", "report", "-i", data_path, "--stdio", "--no-children", "--sort", "symbol"],
                              check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        return f"no profile: {error}"
    finally:
        if os.path.exists(data_path):
            os.remove(data_path)
    hot = []
    for line in text.splitlines():
        match = re.match(r"\s*([\d.]+)%\s+\[[.k]\]\s+(.*\S)", line)
        if match:
            symbol = re.sub(r"(\s+-)+$", "", re.sub(r"\s+", " ", match.group(2)))
            hot.append((float(match.group(1)), symbol if len(symbol) <= 110 else symbol[:107] + "..."))
    return hot[:top]
