"""Turn the benchmark's results.json into docs/bench/REPORT.md, bench.png and the block of docs/benchmark.md.

    python tests/perf/report.py [docs/bench/results.json]   (re-renders without measuring)
"""

import json
import os
import re
import sys

NAMES = {
    "a": "(a) bare dcmtk storescp, persistent",
    "b": "(b) this gateway: xinetd + lean launcher + px-listen",
    "c": "(c) Orthanc (Debian package)",
    "d": "(d) pypx per-file mode (storescp -xcr px-repack), as installed",
    "d+shim": "(d) same, with a pydicom read_file shim",
}
TARGETS = {"transfer_ratio": 0.8, "filing_s": 2.0, "per_assoc_s": 0.4, "second_converge_s": 15.0, "fleet_ratio": 2.5}
# Why a target is missed, as far as the measurements show (the report adds the load it saw).
REASONS = {
    "transfer": "each association first starts px-listen (Python) and storescp through two shells; storescp "
                "then writes every instance once and px-listen copies it again, all on the same cores",
    "filing": "pypx.listen files after the association ends, one file after another in one Python process "
              "(a header read, three ConfigParser objects and a copy per file); beyond reading headers only, "
              "speeding it up means patching pypx",
    "per_assoc": "what remains is CPU work before storescp answers: Python start-up, pfmisc's logger walking "
                 "the stack (inspect.stack) for each message, two shells and storescp's own start-up",
    "burst": "xinetd serves at most dicom_listener_instances associations at once (FAIL service_limit "
             "above it; 128 by default), and every association's start-up competes for the same cores while "
             "storescu waits at most 30 s for an answer",
    "second_converge": "nothing changes, but the role still checks every step: about 60 tasks run (and about 35 "
                       "are skipped), and each check is at least one round trip into the gateway through docker "
                       "exec (0.2-0.5 s each here); the slowest are listed below",
    "fleet": "all 8 gateway containers run on this machine's 2 cores, so their first installs (dpkg, pip "
             "unpacking and byte-compiling pypx's packages, about 150 MB per gateway) queue for the same CPUs: "
             "the fleet's wall time is bound by the sum of their CPU time over 2 cores, where gateways on "
             "hosts of their own bring their own CPUs",
}
# The block of docs/benchmark.md between these markers is rewritten by every run.
BLOCK_START = "<!-- bench:start (written by make bench) -->"
BLOCK_END = "<!-- bench:end -->"
BLOCK_PAGE = os.path.join("docs", "benchmark.md")


def fmt(value, digits=2):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return ("%%.%df" % digits) % value
    return str(value)


def verdict(ok, missed, reason=None):
    if ok:
        return "met"
    return "MISSED: %s%s" % (missed, ("; why: " + REASONS[reason]) if reason else "")


def ratios(results):
    """Each throughput row's rate as a ratio to (a), also for a run interrupted before it did so."""
    rows = results["sections"].get("throughput", {}).get("rows", [])
    base = next((r["instances_per_s"] for r in rows if r["receiver"] == "a"), None)
    for r in rows:
        if r.get("rate_ratio_to_a") is None:
            r["rate_ratio_to_a"] = round(r["instances_per_s"] / base, 3) if r["instances_per_s"] and base else None


def targets(results):
    """(target, measured, verdict) rows; where a target is missed, by how much."""
    sec = results["sections"]
    rows = []
    tp = {r["receiver"]: r for r in sec.get("throughput", {}).get("rows", [])}
    if "a" in tp and "b" in tp:
        ratio = tp["b"]["rate_ratio_to_a"]
        rows.append(("(b) transfer rate >= 0.8 x (a)", "%.2f x" % ratio,
                     verdict(ratio >= TARGETS["transfer_ratio"], "%.0f%% below" % ((0.8 - ratio) / 0.8 * 100), "transfer")))
        filing = tp["b"]["filed_after_release_s"]
        ok = tp["b"]["complete"] and filing <= TARGETS["filing_s"]
        rows.append(("(b) every instance filed within 2 s of release (%d instances)" % tp["b"]["instances"],
                     "%.2f s, %d of %d filed" % (filing, tp["b"]["counted"], tp["b"]["instances"]),
                     verdict(ok, "%.2f s over" % (filing - 2) if tp["b"]["complete"] else "not all filed", "filing")))
    pa = sec.get("per_association")
    if pa and pa["b"]["median_s"] is not None:
        med = pa["b"]["median_s"]
        rows.append(("(b) per-association cost < 0.4 s", "%.3f s median" % med,
                     verdict(med < TARGETS["per_assoc_s"], "%.2f s over" % (med - 0.4), "per_assoc")))
    br = sec.get("burst")
    if br:
        ok = br["accepted"] == br["associations"] and br["filed"] == br["associations"]
        rows.append(("burst: 100 of 100 accepted and filed", "%d accepted, %d filed" % (br["accepted"], br["filed"]),
                     verdict(ok, "%d refused, %d not filed" % (br["refused"], br["associations"] - br["filed"]), "burst")))
    an = sec.get("ansible")
    if an:
        second = an["second_converge"]
        changed = sum(h["changed"] for h in second["recap"].values())
        ok = second["wall_s"] < TARGETS["second_converge_s"] and changed == 0
        rows.append(("second converge < 15 s, changed=0", "%.1f s, changed=%d" % (second["wall_s"], changed),
                     verdict(ok, "%.1f s over" % (second["wall_s"] - 15) if changed == 0 else "changed=%d" % changed,
                             "second_converge")))
    fl = sec.get("fleet")
    if not fl:
        rows.append(("fleet of 8 (forks 8) < 2.5 x one gateway", "not measured in this run", "not measured"))
    if fl:
        rows.append(("fleet of %d (forks %d) < 2.5 x one gateway" % (fl["hosts"], fl["hosts"]),
                     "%.2f x (%.0f s vs %.0f s)" % (fl["ratio_to_one"], fl["wall_s"], an["first_converge"]["wall_s"]),
                     verdict(fl["ratio_to_one"] < TARGETS["fleet_ratio"], "%.2f x over" % (fl["ratio_to_one"] - 2.5),
                             "fleet")))
    return rows


def load_line(load):
    if not load:
        return "n/a"
    return "1-min load %s-%s (mean %s), up to %d other containers running" % (
        fmt(load["min"]), fmt(load["max"]), fmt(load["mean"]), load["other_containers_max"])


def machine_line(results):
    m = results["machine"]
    return "%s, %d cores, %s GiB RAM, kernel %s, Docker %s" % (
        m["cpu"], m["cores"], m["ram_gib"], m["kernel"], m.get("docker", "?"))


def throughput_table(results):
    lines = ["| receiver | instances | transfer s | instances/s | ratio to (a) | filed after release s | counted |",
             "|---|---|---|---|---|---|---|"]
    for r in results["sections"].get("throughput", {}).get("rows", []):
        counted = "%d of %d%s" % (r["counted"], r["instances"], "" if r["complete"] else " (incomplete)")
        if r["receiver"].startswith("d"):
            counted += "; %d left in tmp, %d error lines" % (r.get("left_in_tmp", 0), r.get("error_lines", 0))
        if r["storescu_rc"] != 0:
            counted += "; storescu rc %d" % r["storescu_rc"]
        if r.get("note"):
            counted += " (%s)" % r["note"]
        if r["receiver"] in ("a", "c"):
            filed = "(stored on arrival)"
        elif r["complete"]:
            filed = fmt(r["filed_after_release_s"])
        elif r["receiver"].startswith("d"):
            filed = "never (px-repack done after %s s)" % fmt(r["filed_after_release_s"])
        else:
            filed = "never (gave up after %s s)" % fmt(r["filed_after_release_s"])
        lines.append("| %s | %d | %s | %s | %s | %s | %s |" % (
            NAMES.get(r["receiver"], r["receiver"]), r["instances"], fmt(r["transfer_s"]), fmt(r["instances_per_s"], 1),
            fmt(r["rate_ratio_to_a"]), filed, counted))
    return lines


def body(results, chart):
    sec = results["sections"]
    out = ["Run %s on: %s." % (results["started"], machine_line(results)),
           "Load during the run: %s." % load_line(results.get("load")), ""]
    v = results.get("versions", {})
    if v:
        out += ["Versions: pypx %s with pydicom %s and dcmtk %s in the gateway; Orthanc %s." % (
            v.get("pypx"), v.get("pydicom_gateway"), v.get("dcmtk_gateway"), v.get("orthanc")), ""]
    out += ["| target | measured | verdict |", "|---|---|---|"]
    out += ["| %s | %s | %s |" % row for row in targets(results)]
    load = results.get("load") or {}
    cores = results["machine"].get("cores") or 1
    if load and load.get("mean", 0) > cores:
        out += ["", "The machine was shared while this ran: a mean 1-min load of %s on %d cores stretches every "
                "figure that needs CPU time (each process got about %.0f%% of a core), so these figures are upper "
                "bounds; run `make bench` on a quiet machine for the product's own figures." % (
                    fmt(load["mean"]), cores, min(100.0, 100.0 * cores / load["mean"]))]
    for note in results.get("notes", []):
        out += ["", "Note: %s." % note]
    out += ["", "![benchmark chart](%s)" % chart, "",
            "**Throughput**: one association, storescu with TCP_NODELAY=1 from the Docker host "
            "(load: %s)." % load_line(sec.get("throughput", {}).get("load")), ""]
    out += throughput_table(results)
    pa = sec.get("per_association")
    if pa:
        out += ["", "**Per-association cost**: 20 sequential single-instance associations (storescu wall time; "
                "load: %s)." % load_line(pa.get("load")), "",
                "| receiver | succeeded | median s | min s | max s | filed |", "|---|---|---|---|---|---|",
                "| %s | %d of %d | %s | %s | %s | (stored) |" % (
                    NAMES["a"], pa["a"]["succeeded"], pa["a"]["associations"], fmt(pa["a"]["median_s"], 3),
                    fmt(pa["a"]["min_s"], 3), fmt(pa["a"]["max_s"], 3)),
                "| %s | %d of %d | %s | %s | %s | %d |" % (
                    NAMES["b"], pa["b"]["succeeded"], pa["b"]["associations"], fmt(pa["b"]["median_s"], 3),
                    fmt(pa["b"]["min_s"], 3), fmt(pa["b"]["max_s"], 3), pa["b"].get("filed", 0))]
    br = sec.get("burst")
    if br:
        out += ["", "**Burst** against (b): %d single-instance associations started at once: %d accepted, %d refused, "
                "%.1f s until the last sender exited, %d filed (load: %s).%s" % (
                    br["associations"], br["accepted"], br["refused"], br["wall_s"], br["filed"], load_line(br.get("load")),
                    (" Sender errors: %s." % "; ".join(br["errors"])) if br["errors"] else "")]
        if br.get("xinetd_fail_lines"):
            out[-1] += " xinetd (instances = %s) logged: %s." % (br.get("xinetd_instances"), "; ".join(br["xinetd_fail_lines"]))
        mem = br.get("memory")
        if mem and mem.get("samples"):
            out[-1] += (" Memory of the listener user's processes (px-listen, storescp and their shells) at its peak:"
                        " %.0f MiB for %d processes (%.1f MiB each); at most %d processes at once." % (
                            mem["peak_rss_mib"], mem["processes_at_peak"], mem["rss_mib_per_process_at_peak"] or 0,
                            mem["max_processes"]))
    an = sec.get("ansible")
    if an and an["second_converge"].get("slowest_tasks"):
        out += ["", "Slowest tasks of the second converge: " + "; ".join(
            "%s %.1f s" % (t["task"], t["s"]) for t in an["second_converge"]["slowest_tasks"]) + "."]
    if an:
        out += ["", "**Ansible** (site playbook, docker connection): first converge of a fresh gateway %.1f s, second "
                "converge %.1f s (changed=%d)." % (an["first_converge"]["wall_s"], an["second_converge"]["wall_s"],
                                                   sum(h["changed"] for h in an["second_converge"]["recap"].values()))]
    fl = sec.get("fleet")
    if fl:
        failed = sum(h["failed"] + h["unreachable"] for h in fl["recap"].values())
        out[-1] += (" A fleet of %d fresh gateways with forks %d: %.1f s, %.2f times one gateway, %d host(s) failed "
                    "(load: %s)." % (fl["hosts"], fl["hosts"], fl["wall_s"], fl["ratio_to_one"], failed,
                                     load_line(fl.get("load"))))
    return out


def chart(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["sections"].get("throughput", {}).get("rows", [])
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    labels = [r["receiver"] for r in rows]
    axes[0].bar(labels, [r["instances_per_s"] or 0 for r in rows], color="#4477aa")
    axes[0].set_title("transfer, instances/s (one association)")
    axes[1].bar(labels, [r["filed_after_release_s"] if r["complete"] else 0 for r in rows], color="#cc6677")
    for i, r in enumerate(rows):
        if not r["complete"] and r["receiver"] not in ("a", "c"):
            axes[1].text(i, 0.1, "%d of %d\nfiled" % (r["counted"], r["instances"]), ha="center", fontsize=8)
    axes[1].axhline(2.0, color="black", linestyle="--", linewidth=1)
    axes[1].set_title("release -> last instance filed, s")
    axes[1].set_yscale("symlog", linthresh=1)
    pa = results["sections"].get("per_association")
    if pa:
        axes[2].bar(["a", "b"], [pa["a"]["median_s"] or 0, pa["b"]["median_s"] or 0], color="#228833")
        axes[2].axhline(0.4, color="black", linestyle="--", linewidth=1)
    axes[2].set_title("per-association cost, median s")
    m = results["machine"]
    fig.suptitle("pacsgate.listener benchmark, %s (%s, %d cores, 1-min load mean %s)" % (
        results["started"], m["cpu"], m["cores"], fmt((results.get("load") or {}).get("mean"))), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(results, out_dir, repo):
    os.makedirs(out_dir, exist_ok=True)
    ratios(results)
    chart(results, os.path.join(out_dir, "bench.png"))
    lines = ["# Benchmark report", "", "Written by `make bench` (tests/perf/bench.py); figures counted, not assumed.",
             "Receivers: " + "; ".join("%s" % v for v in NAMES.values()) + ".", ""]
    lines += body(results, "bench.png")
    with open(os.path.join(out_dir, "REPORT.md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    page = os.path.join(repo, BLOCK_PAGE)
    rel = os.path.relpath(out_dir, os.path.dirname(page))
    block = [BLOCK_START, ""] + body(results, rel + "/bench.png") + [
        "", "Full report: [%s/REPORT.md](%s/REPORT.md)." % (rel, rel), "", BLOCK_END]
    with open(page) as handle:
        text = handle.read()
    if BLOCK_START in text and BLOCK_END in text:
        text = re.sub(re.escape(BLOCK_START) + ".*?" + re.escape(BLOCK_END), lambda _m: "\n".join(block), text,
                      flags=re.S)
        with open(page, "w") as handle:
            handle.write(text)
    print("\n".join(lines))


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    repo_root = os.path.dirname(os.path.dirname(here))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo_root, "docs", "bench", "results.json")
    with open(src) as handle:
        write(json.load(handle), os.path.dirname(os.path.abspath(src)), repo_root)
