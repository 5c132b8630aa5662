"""Turn the benchmark's results.json into docs/bench/REPORT.md, bench.png and the block of
docs/benchmark.md.

    python tests/perf/report.py [docs/bench/results.json]   (re-renders without measuring)
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import targets  # noqa: E402  pylint: disable=wrong-import-position
from targets import LIMITS  # noqa: E402  pylint: disable=wrong-import-position

NAMES = {
    "a": "(a) bare storescp --fork",
    "b": "(b) the gateway",
    "b_nocheck": "(b) with both AE title checks off",
    "nogate": "xinetd + storescp, no gate (not filed)",
    "c": "(c) Orthanc",
}
# The block of docs/benchmark.md between these markers is rewritten by every run.
BLOCK_START = "<!-- bench:start (written by make bench) -->"
BLOCK_END = "<!-- bench:end -->"
BLOCK_PAGE = os.path.join("docs", "benchmark.md")
PYPX_PER_FILE = ("(d) pypx's per-file mode (`storescp -xcr px-repack ... --cleanup`, what pypx's storescp.sh builds) "
                 "is no longer measured: with the pydicom 3 that pip resolves it loses every study (px-repack calls "
                 "`dicom.read_file`, which pydicom 3 removed, and `--cleanup` then deletes the received file, "
                 "while the sender got Success): 0 of 100 instances filed in the run of 2026-11-29")


def fmt(value, digits=2):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return ("%%.%df" % digits) % value
    return str(value)


def ms(seconds):
    return "n/a" if seconds is None else "%.1f" % (1000.0 * seconds)


def load_line(load):
    if not load:
        return "n/a"
    text = "1-min load %s-%s (mean %s)" % (fmt(load["min"]), fmt(load["max"]), fmt(load["mean"]))
    if load.get("cpu_pressure_mean") is not None:
        text += ", CPU pressure %s %% (max %s)" % (fmt(load["cpu_pressure_mean"], 0), fmt(load["cpu_pressure_max"], 0))
    return text + ", up to %d other containers running" % load["other_containers_max"]


def machine_line(results):
    m = results["machine"]
    return "%s, %d cores, %s GiB RAM, kernel %s, Docker %s" % (
        m["cpu"], m["cores"], m["ram_gib"], m["kernel"], m.get("docker", "?"))


def verdict_text(row):
    if row["ok"] is None:
        return "not measured"
    if row["ok"]:
        return "met"
    text = "MISSED" + (" by %s" % row["by"] if row.get("by") else "")
    return text + ("; why: %s" % row["why"] if row.get("why") else "")


def counted(row, n=None):
    n = row.get("instances", row.get("associations")) if n is None else n
    text = "%s of %d" % (fmt(row.get("identical")), n)
    if row.get("counted") is not None and row.get("counted") != row.get("identical"):
        text += " (%s files)" % row["counted"]
    return text


def _sec(results, name):
    return (results.get("sections") or {}).get(name) or {}


# --- sections -------------------------------------------------------------------------------------

def one_association_table(results):
    sec = _sec(results, "one_association")
    if not sec.get("runs"):
        return []
    out = ["", "**1000 instances in one association** (storescu, TCP_NODELAY=1, from the Docker host; runs in this "
           "order; load: %s)." % load_line(sec.get("load")), "",
           "| receiver | instances | transfer s | instances/s | filed after release s | byte-identical | CPU s |",
           "|---|---|---|---|---|---|---|"]
    for r in sec["runs"]:
        rate = r["instances"] / r["transfer_s"] if r["transfer_s"] and r["rc"] == 0 else None
        filed = "(stored on arrival)" if r["receiver"] in ("a", "c") else fmt(r["filed_after_release_s"])
        cpu = fmt(r.get("associations_cpu_s"))
        if r.get("filer_cpu_s") is not None:
            cpu += " + filer %s" % fmt(r["filer_cpu_s"])
        out.append("| %s | %d | %s | %s | %s | %s | %s |" % (
            NAMES.get(r["receiver"], r["receiver"]), r["instances"], fmt(r["transfer_s"]), fmt(rate, 0), filed,
            counted(r), cpu))
    return out


def sequential_table(results):
    sec = _sec(results, "sequential")
    rows = sec.get("rows") or {}
    if not rows:
        return []
    a = (rows.get("a") or {}).get("median_s")
    out = ["", "**One association per instance, sequential**: %d single-instance associations per receiver, "
           "interleaved (one to each receiver in turn); storescu's wall time per association (load: %s)."
           % (next(iter(rows.values()))["associations"], load_line(sec.get("load"))), "",
           "| receiver | median ms | mean ms | ratio to (a) | senders' Success | byte-identical on disk |",
           "|---|---|---|---|---|---|"]
    for key in sec.get("order") or sorted(rows):
        r = rows[key]
        out.append("| %s | %s | %s | %s | %d of %d | %s |" % (
            NAMES.get(key, key), ms(r["median_s"]), ms(r["mean_s"]),
            fmt(r["median_s"] / a) if a and r["median_s"] else "n/a", r["sender_ok"], r["associations"],
            counted(r, r["associations"])))
    return out


def cpu_tables(results):
    sec = _sec(results, "sequential")
    out = []
    blocks = sec.get("cpu_blocks") or {}
    if blocks:
        out += ["", "CPU per single-instance association, reaped by xinetd (gate and storescp; blocks of associations "
                "in the order b, checks off, no gate, no gate, checks off, b): " + "; ".join(
                    "%s %.1f ms (%d associations, %d Success)" % (NAMES.get(k, k), v["cpu_ms_per_association"],
                                                                  v["associations"], v["sender_ok"])
                    for k, v in blocks.items()) + "."]
    st = sec.get("startup") or {}
    if st:
        out += ["", "What an association starts that a forking storescp's child does not, per start in the gateway "
                "container (50 starts each):", "", "| program | CPU ms | wall ms |", "|---|---|---|"]
        out += ["| %s | %.1f | %.1f |" % (k, v["cpu_ms"], v["wall_ms"]) for k, v in st.items()]
    return out


def parallel_table(results):
    sec = _sec(results, "parallel")
    if not sec.get("runs"):
        return []
    out = ["", "**1000 single-instance associations from 4 parallel senders**, until all are stored or filed "
           "(runs in this order; load: %s)." % load_line(sec.get("load")), "",
           "| receiver | sent s | until filed s | byte-identical | sender failures | CPU s (associations + filer) "
           "| filing after each association's end, median / max s |", "|---|---|---|---|---|---|---|"]
    for r in sec["runs"]:
        rec = r.get("records") or {}
        cpu = fmt(r.get("associations_cpu_s")) + (" + %s" % fmt(r["filer_cpu_s"]) if r.get("filer_cpu_s") is not None
                                                  else "")
        out.append("| %s | %s | %s | %s | %d | %s | %s |" % (
            NAMES.get(r["receiver"], r["receiver"]), fmt(r["sent_s"]), fmt(r["until_filed_s"]), counted(r),
            r["sender_failures"], cpu,
            "%s / %s" % (fmt(rec.get("filing_s_median")), fmt(rec.get("filing_s_max"))) if rec else ""))
    return out


def memory_cells(mem, kind):
    e = (mem or {}).get(kind)
    if not e:
        return "n/a"
    return "%d at once: PSS %.1f MiB each (%.1f MiB together), RSS %.1f MiB each; largest one PSS %.1f, RSS %.1f" % (
        e["max_processes"], e["max_pss_mib_per_process_busy"], e["pss_mib_at_peak"], e["rss_mib_per_process_at_peak"],
        e["max_pss_mib_one"], e["max_rss_mib_one"])


def burst_section(results):
    sec = _sec(results, "burst")
    runs = sec.get("runs") or {}
    if not runs:
        return []
    out = ["", "**Burst**: %d single-instance associations, each a new series, started at once while %d CPU-bound "
           "processes ran (load: %s)." % (sec["associations"], sec.get("cpu_hogs", 2), load_line(sec.get("load"))), "",
           "| receiver | senders' Success | byte-identical on disk | senders done s | until filed s | per association "
           "in progress |", "|---|---|---|---|---|---|"]
    for key in ("a", "b"):
        r = runs.get(key)
        if not r:
            continue
        kind = "bare" if key == "a" else "per_association"
        out.append("| %s | %d of %d | %s | %s | %s | %s |" % (
            NAMES[key], r["sender_ok"], r["associations"], counted(r), fmt(r["senders_done_s"]),
            fmt(r["until_filed_s"]), memory_cells(r.get("memory"), kind)))
    b = runs.get("b") or {}
    notes = []
    if b.get("gate_log"):
        notes.append("the gate logged %s" % ", ".join("%s %d" % kv for kv in sorted(b["gate_log"].items())))
    if b.get("xinetd_fail"):
        notes.append("xinetd: %s" % "; ".join(b["xinetd_fail"]))
    rec = b.get("records") or {}
    if rec.get("filing_s_median") is not None:
        notes.append("the filer filed each association %s s (median) and at most %s s after it ended, and used "
                     "%s s of CPU" % (fmt(rec["filing_s_median"]), fmt(rec["filing_s_max"]), fmt(b.get("filer_cpu_s"))))
    for key in ("a", "b"):
        if (runs.get(key) or {}).get("sender_errors"):
            notes.append("%s senders saw: %s" % (NAMES[key], "; ".join(runs[key]["sender_errors"])))
    if notes:
        out += ["", "In the burst: " + "; ".join(notes) + "."]
    return out


def memory_section(results):
    figures = targets.memory_figures(results)
    paced = _sec(results, "paced")
    out = ["", "**Memory** from /proc/<pid>/smaps_rollup, sampled every 0.2 s. The verdict uses PSS: a shared page "
           "(dcmtk's and the C library's code) counts once in the PSS of all processes together, divided among "
           "them, where RSS counts it in every process; per association is the PSS of the gates and storescp "
           "processes together divided by their number, at the samples with at least half the peak number in "
           "progress. The filer's verdict uses its peak RSS as the kernel counted it (VmHWM), which also catches "
           "a peak between two samples."]
    if paced:
        snd = paced.get("sender") or {}
        out += ["", "Paced transfer: %d associations at once, %d instances each, %.1f s between instances (pynetdicom): "
                "%s of %s C-STOREs Success, %s filed byte for byte; %s (load: %s)." % (
                    paced["associations"], paced["instances_each"], paced["pause_s"], fmt(snd.get("success")),
                    fmt(snd.get("sent")), counted(paced, paced["associations"] * paced["instances_each"]),
                    memory_cells(paced.get("memory"), "per_association"), load_line(paced.get("load")))]
    for label, e in figures["filer"]:
        out += ["", "Filer during the %s phase: PSS up to %.1f MiB, RSS up to %.1f MiB, VmHWM %s MiB." % (
            label, e["max_pss_mib_one"], e["max_rss_mib_one"], fmt(e.get("hwm_mib"), 1))]
    return out


def ansible_section(results):
    an = _sec(results, "ansible")
    if not an:
        return []
    first, second = an["first_converge"], an["second_converge"]

    def recap(c):
        keys = ("ok", "changed", "skipped", "failed")
        return ", ".join("%s=%d" % (k, sum(h.get(k, 0) for h in c["recap"].values())) for k in keys)
    out = ["", "**Ansible** (site playbook, docker connection, pipelining; load: %s): first converge of a fresh "
           "gateway %.1f s (%s), second converge %.1f s (%s)." % (load_line(an.get("load")), first["wall_s"],
                                                                  recap(first), second["wall_s"], recap(second))]
    slow = second.get("tasks", [])[:10]
    if slow:
        out += ["", "Slowest tasks of the second converge (ansible.posix.profile_tasks):", "",
                "| task | s |", "|---|---|"]
        out += ["| %s | %.2f |" % (t["task"].replace("|", "/"), t["s"]) for t in slow]
    return out


def health_section(results):
    sec = _sec(results, "health")
    if not sec:
        return []
    ar = sec.get("archive", {})
    out = ["", "**Health scan** (load: %s): a synthetic archive of %s instances (%s files in the data dir: %s "
           "patients' studies in pypx's layout, small files), and a tmp tree with %s filed association dirs with "
           "records, %s queued, %s in incoming, %s in quarantine; written in %s s. The filer was stopped (it would "
           "have taken the queue). Each reader ran as root in a `python3 -c` of its own under /usr/bin/time -v." % (
               load_line(sec.get("load")), "{:,}".format(ar.get("instances", 0)),
               "{:,}".format(ar.get("files_in_data_dir", 0)), fmt(ar.get("instances", 0) // 1000),
               fmt(ar.get("filed_dirs")), fmt(ar.get("queued_dirs")), fmt(ar.get("incoming_dirs")),
               fmt(ar.get("quarantine_dirs")), fmt(ar.get("wall_s"))), "",
           "| reader | run | wall s | user s | sys s | max RSS MiB | result |", "|---|---|---|---|---|---|---|"]
    for key, label in (("records_health", "records.health (module_utils/records.py)"),):
        for i, r in enumerate(sec.get(key) or [], 1):
            out.append("| %s | %d | %s | %s | %s | %s | %s |" % (
                label, i, fmt(r.get("wall_s")), fmt(r.get("user_s")), fmt(r.get("sys_s")), fmt(r.get("max_rss_mib"), 1),
                "`%s`" % r.get("output", "")[:160] if r.get("rc") == 0 else "failed: %s" % r.get("error", "")[:120]))
    st = sec.get("status") or {}
    module = st.get("module")
    if module:
        figures = (fmt(module.get("wall_s")), fmt(module.get("user_s")), fmt(module.get("sys_s")),
                   fmt(module.get("max_rss_mib"), 1), json.dumps(module.get("health")))
        out.append("| dicom_listener_info as the status playbook calls it (kept on the gateway and run again) | 1 | "
                   "%s | %s | %s | %s | `%s` |" % figures)
    if st:
        out += ["", "The status playbook took %s s in all (its dicom_listener_info task %s s)." % (
            fmt(st.get("playbook_wall_s")), fmt(st.get("module_task_s")))]
    return out


def body(results, chart):
    out = ["Run %s on: %s; %s s in all." % (results["started"], machine_line(results), fmt(results.get("wall_s"))),
           "Load during the run: %s." % load_line(results.get("load")), ""]
    v = results.get("versions", {})
    if v:
        out += ["Versions in the gateway: dcmtk %s, xinetd %s, perl %s, Python %s, pypx %s with pydicom %s; "
                "Orthanc %s." % (v.get("dcmtk"), v.get("xinetd"), v.get("perl"), v.get("python"), v.get("pypx"),
                                 v.get("pydicom"), v.get("orthanc", "not measured")), ""]
    out += ["| target | measured | reference | verdict |", "|---|---|---|---|"]
    out += ["| %s | %s | %s | %s |" % (r["target"], r["measured"], r["reference"], verdict_text(r))
            for r in targets.verdicts(results)]
    load = results.get("load") or {}
    cores = results["machine"].get("cores") or 1
    if load and load.get("mean", 0) > cores:
        out += ["", "The machine was shared while this ran: a mean 1-min load of %s on %d cores (CPU pressure %s %%) "
                "stretches every figure that needs CPU time, absolute ones most; the ratios compare receivers "
                "measured side by side under the same load."
                % (fmt(load["mean"]), cores, fmt(load.get("cpu_pressure_mean"), 0))]
    for note in results.get("notes", []):
        out += ["", "Note: %s." % note]
    out += ["", "![benchmark chart](%s)" % chart]
    out += one_association_table(results) + sequential_table(results) + cpu_tables(results) + parallel_table(results)
    out += burst_section(results) + memory_section(results) + ansible_section(results) + health_section(results)
    out += ["", PYPX_PER_FILE + "."]
    return out


# --- chart ----------------------------------------------------------------------------------------

def chart_data(results):
    """What bench.png shows, from the verdicts' own figures."""
    data = {"ratios": [], "memory": [], "converge": []}
    seq = _sec(results, "sequential").get("rows") or {}
    if seq.get("a", {}).get("median_s") and seq.get("b", {}).get("median_s"):
        data["ratios"].append(("sequential", seq["b"]["median_s"] / seq["a"]["median_s"], LIMITS["sequential_ratio"]))
    runs = _sec(results, "parallel").get("runs") or []
    a, b = targets.pooled(runs, "a", "until_filed_s"), targets.pooled(runs, "b", "until_filed_s")
    if a and b:
        data["ratios"].append(("4 parallel", b / a, LIMITS["parallel_ratio"]))
    runs = _sec(results, "one_association").get("runs") or []
    ta, tb = targets.pooled(runs, "a", "transfer_s"), targets.pooled(runs, "b", "transfer_s")
    if ta and tb:
        na, nb = targets.pooled(runs, "a", "instances"), targets.pooled(runs, "b", "instances")
        data["ratios"].append(("1 association\n(time, 1/rate)", (tb / nb) / (ta / na), 1 / LIMITS["rate_ratio"]))
    for label, per in sorted((k, v) for k, v in targets.memory_figures(results).items() if k != "filer"):
        data["memory"].append((label, per["max_pss_mib_per_process_busy"], per["rss_mib_per_process_at_peak"]))
    an = _sec(results, "ansible")
    if an:
        data["converge"] = [("first", an["first_converge"]["wall_s"]), ("second", an["second_converge"]["wall_s"])]
    return data


def chart(results, path):
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    data = chart_data(results)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    if data["ratios"]:
        labels = [r[0] for r in data["ratios"]]
        axes[0].bar(labels, [r[1] for r in data["ratios"]], color="#4477aa")
        axes[0].scatter(labels, [r[2] for r in data["ratios"]], marker="_", s=900, color="black", label="target")
        axes[0].axhline(1.0, color="grey", linewidth=0.8)
        axes[0].legend(fontsize=8)
    axes[0].set_title("gateway time / bare storescp time", fontsize=10)
    if data["memory"]:
        x = range(len(data["memory"]))
        axes[1].bar([i - 0.2 for i in x], [m[1] for m in data["memory"]], width=0.4, color="#228833", label="PSS")
        axes[1].bar([i + 0.2 for i in x], [m[2] for m in data["memory"]], width=0.4, color="#ccbb44", label="RSS")
        axes[1].set_xticks(list(x))
        axes[1].set_xticklabels([m[0] for m in data["memory"]])
        axes[1].axhline(LIMITS["association_mib"], color="black", linestyle="--", linewidth=1)
        axes[1].legend(fontsize=8)
    axes[1].set_title("MiB per association in progress", fontsize=10)
    if data["converge"]:
        axes[2].bar([c[0] for c in data["converge"]], [c[1] for c in data["converge"]], color="#cc6677")
        axes[2].axhline(LIMITS["second_converge_s"], color="black", linestyle="--", linewidth=1)
    axes[2].set_title("converge, s (target for the second: dashed)", fontsize=10)
    m = results["machine"]
    fig.suptitle("pacsgate.listener benchmark, %s (%s, %d cores, 1-min load mean %s)" % (
        results["started"], m["cpu"], m["cores"], fmt((results.get("load") or {}).get("mean"))), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# --- files ----------------------------------------------------------------------------------------

def report_text(results):
    lines = ["# Benchmark report", "", "Written by `make bench` (tests/perf/bench.py); every figure counted on disk, "
             "every ratio against a reference measured in the same run. Receivers: %s." % "; ".join(NAMES.values()), ""]
    return "\n".join(lines + body(results, "bench.png")) + "\n"


def block_text(results, rel):
    block = [BLOCK_START, ""] + body(results, rel + "/bench.png") + [
        "", "Full report: [%s/REPORT.md](%s/REPORT.md)." % (rel, rel), "", BLOCK_END]
    return "\n".join(block)


def replace_block(page_text, block):
    if BLOCK_START not in page_text or BLOCK_END not in page_text:
        return page_text
    return re.sub(re.escape(BLOCK_START) + ".*?" + re.escape(BLOCK_END), lambda _m: block, page_text, flags=re.S)


def write(results, out_dir, repo, draw=True):
    os.makedirs(out_dir, exist_ok=True)
    if draw:
        chart(results, os.path.join(out_dir, "bench.png"))
    text = report_text(results)
    with open(os.path.join(out_dir, "REPORT.md"), "w") as handle:
        handle.write(text)
    page = os.path.join(repo, BLOCK_PAGE)
    rel = os.path.relpath(out_dir, os.path.dirname(page))
    # Only the repository's own report goes into its page (not a trial run written elsewhere).
    if os.path.realpath(out_dir) != os.path.realpath(os.path.join(repo, "docs", "bench")):
        print(text)
        return
    with open(page) as handle:
        old = handle.read()
    new = replace_block(old, block_text(results, rel))
    if new != old:
        with open(page, "w") as handle:
            handle.write(new)
    print(text)


if __name__ == "__main__":
    HERE = os.path.dirname(os.path.abspath(__file__))
    REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
    SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO_ROOT, "docs", "bench", "results.json")
    with open(SRC) as src:
        write(json.load(src), os.path.dirname(os.path.abspath(SRC)), REPO_ROOT)
