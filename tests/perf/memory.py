"""Memory of the receivers' processes, from /proc/<pid>/smaps_rollup (Rss and Pss).

Runs inside a benchmark container as root (python3, standard library only):

    memory.py sample [--interval S] [--timeout S]
    memory.py cpu          (CPU seconds so far: see cpu())

samples every S seconds until a line (or end of file) arrives on stdin, then prints one JSON
object: per class of process (see classify), the number of processes, their summed RSS and PSS at
the sample with the most processes of that class, the largest single process, and the filer's
peak resident set (VmHWM) as the kernel counted it between samples.

Why both: RSS counts every page a process maps, its share of the dynamic libraries included, once
per process; for 200 storescp processes it counts libdcmtk's pages 200 times. PSS divides each
shared page among the processes that map it, so the PSS of all processes adds up to the memory
they really take. The verdicts use PSS; RSS is reported as the upper bound a single process shows.
"""

import json
import os
import sys
import threading
import time

# Classes of processes the benchmark measures, by their command line.
GATE = "gate"            # the Perl gate before it execs storescp (one per association)
ASSOCIATION = "association"  # storescp --inetd: one per association in progress (gateway, or no gate)
BARE = "bare"            # storescp --fork: the listening parent and one child per association
FILER = "filer"          # python -m pacsgate_listener.filer
PER_ASSOCIATION = (GATE, ASSOCIATION)


def parse_rollup(text):
    """The kB fields of a smaps_rollup (or status) text: {"Rss": 1234, "Pss": 567, ...}."""
    fields = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        parts = rest.split()
        if not sep or len(parts) != 2 or parts[1] != "kB":
            continue
        try:
            fields[name.strip()] = int(parts[0])
        except ValueError:
            continue
    return fields


def classify(argv):
    """The class of a process from its argv (a list of str), or None for what is not measured."""
    if not argv:
        return None
    prog = os.path.basename(argv[0])
    if prog.startswith("perl") and any(os.path.basename(a) == "pacsgate-gate" for a in argv[1:3]):
        return GATE
    if prog == "storescp":
        if "--inetd" in argv:
            return ASSOCIATION
        if "--fork" in argv:
            return BARE
        return None
    if prog.startswith("python") and "pacsgate_listener.filer" in argv:
        return FILER
    return None


def read_argv(proc, pid):
    with open(os.path.join(proc, pid, "cmdline"), "rb") as handle:
        raw = handle.read()
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def snapshot(proc="/proc"):
    """One sample: {class: [{"pid", "rss_kb", "pss_kb", "hwm_kb"}...]}. Processes that end while
    being read are skipped."""
    found = {}
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        try:
            kind = classify(read_argv(proc, pid))
            if kind is None:
                continue
            with open(os.path.join(proc, pid, "smaps_rollup")) as handle:
                rollup = parse_rollup(handle.read())
            hwm = None
            if kind == FILER:
                with open(os.path.join(proc, pid, "status")) as handle:
                    hwm = parse_rollup(handle.read()).get("VmHWM")
        except OSError:
            continue
        if "Rss" not in rollup or "Pss" not in rollup:
            continue
        found.setdefault(kind, []).append({"pid": int(pid), "rss_kb": rollup["Rss"], "pss_kb": rollup["Pss"],
                                           "hwm_kb": hwm})
    return found


def _mib(kb):
    return round(kb / 1024.0, 2)


def summarize(samples):
    """Per class over a list of snapshots: the sample with the most processes of the class
    (processes, summed RSS and PSS, and both per process), the largest summed PSS, the largest
    single process, the filer's VmHWM. For the associations in progress (GATE and ASSOCIATION
    together), also the largest PSS per association over the samples with at least half as many
    associations as the peak, where a few processes share less than many do."""
    out = {"samples": len(samples)}
    kinds = sorted({k for s in samples for k in s} | ({"per_association"} if samples else set()))
    for kind in kinds:
        if kind == "per_association":
            rows = [[p for k in PER_ASSOCIATION for p in s.get(k, [])] for s in samples]
        else:
            rows = [s.get(kind, []) for s in samples]
        rows = [r for r in rows if r]
        if not rows:
            continue
        peak = max(rows, key=lambda r: (len(r), sum(p["pss_kb"] for p in r)))
        n = len(peak)
        rss, pss = sum(p["rss_kb"] for p in peak), sum(p["pss_kb"] for p in peak)
        entry = {"max_processes": n, "rss_mib_at_peak": _mib(rss), "pss_mib_at_peak": _mib(pss),
                 "rss_mib_per_process_at_peak": _mib(rss / n), "pss_mib_per_process_at_peak": _mib(pss / n),
                 "max_pss_mib_total": _mib(max(sum(p["pss_kb"] for p in r) for r in rows)),
                 "max_rss_mib_total": _mib(max(sum(p["rss_kb"] for p in r) for r in rows)),
                 "max_pss_mib_one": _mib(max(p["pss_kb"] for r in rows for p in r)),
                 "max_rss_mib_one": _mib(max(p["rss_kb"] for r in rows for p in r))}
        busy = [r for r in rows if len(r) * 2 >= n]
        entry["max_pss_mib_per_process_busy"] = _mib(max(sum(p["pss_kb"] for p in r) / len(r) for r in busy))
        hwm = [p["hwm_kb"] for r in rows for p in r if p.get("hwm_kb")]
        if hwm:
            entry["hwm_mib"] = _mib(max(hwm))
        out[kind] = entry
    return out


def parse_stat(text):
    """(ppid, own CPU ticks, reaped children's CPU ticks) from a /proc/<pid>/stat line."""
    fields = text[text.rindex(")") + 2:].split()
    ppid, utime, stime, cutime, cstime = int(fields[1]), int(fields[11]), int(fields[12]), int(fields[13]), \
        int(fields[14])
    return ppid, utime + stime, cutime + cstime


def cpu(proc="/proc"):
    """CPU seconds so far of what serves associations: xinetd's reaped children (the gates and the
    storescp they became), the bare storescp's reaped children (its associations), the filer's own.
    Diffs of two calls attribute a phase's CPU time to each."""
    ticks = float(os.sysconf("SC_CLK_TCK"))
    out = {"xinetd_children": 0.0, "bare_children": 0.0, "filer": 0.0}
    procs = {}
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        try:
            argv = read_argv(proc, pid)
            with open(os.path.join(proc, pid, "stat")) as handle:
                procs[int(pid)] = (argv, parse_stat(handle.read()))
        except (OSError, ValueError, IndexError):
            continue
    for argv, (ppid, own, children) in procs.values():
        kind = classify(argv)
        if argv and os.path.basename(argv[0]) == "xinetd":
            out["xinetd_children"] += children / ticks
        elif kind == BARE and classify(procs.get(ppid, ([], None))[0]) != BARE:
            out["bare_children"] += children / ticks
        elif kind == FILER:
            out["filer"] += own / ticks
    return {k: round(v, 2) for k, v in out.items()}


def sample(interval=0.2, timeout=1800, stop=None, proc="/proc"):
    stop = stop or threading.Event()
    samples = []
    deadline = time.time() + timeout
    while not stop.is_set() and time.time() < deadline:
        samples.append(snapshot(proc))
        stop.wait(interval)
    return summarize(samples)


def main(argv):
    import argparse
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["sample", "once", "cpu"])
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--timeout", type=float, default=1800)
    opts = parser.parse_args(argv)
    if opts.command == "cpu":
        print(json.dumps(cpu()))
        return 0
    if opts.command == "once":
        print(json.dumps(summarize([snapshot()])))
        return 0
    stop = threading.Event()

    def wait_stdin():
        sys.stdin.readline()
        stop.set()
    threading.Thread(target=wait_stdin, daemon=True).start()
    print(json.dumps(sample(opts.interval, opts.timeout, stop)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
