"""The benchmark's targets and their verdicts, computed from results.json alone (no measuring).

verdicts(results) returns one dict per target: key, target, measured, reference (what the figure
is a ratio to, measured in the same run), ok (True, False, or None when not measured), by (how far
from the target, when missed) and why (what the measurements show about the cause).
"""

import statistics

LIMITS = {
    "burst": 200,               # single-instance associations at once, all accepted and filed
    "sequential_ratio": 1.3,    # gateway / bare storescp --fork, per association, sequential
    "parallel_ratio": 1.5,      # gateway / bare, 1000 associations from 4 senders until all filed
    "rate_ratio": 0.95,         # gateway / bare, transfer rate of 1000 instances in one association
    "filing_s": 1.0,            # all filed within this of the release
    "checks_cost": 0.05,        # share of the per-association rate the gate's checks cost
    "association_mib": 8.0,     # PSS per association in progress
    "filer_mib": 150.0,         # the filer's peak resident set
    "second_converge_s": 20.0,  # changed=0
    "health_s": 5.0,            # health scan of an archive of 1,000,000 instances
    "health_mib": 100.0,
}


def _sec(results, name):
    return (results.get("sections") or {}).get(name) or {}


def _all_there(row, n=None):
    n = row.get("instances", row.get("associations")) if n is None else n
    return bool(row.get("complete")) and row.get("identical") == n


def _pct(x):
    return "%.1f %%" % (100.0 * x)


def pooled(runs, receiver, key):
    """Sum of `key` over a receiver's runs (the a b b a order cancels a steady drift)."""
    values = [r[key] for r in runs if r["receiver"] == receiver and r.get(key) is not None]
    return sum(values) if values else None


def cpu_per_association(results):
    """Milliseconds of CPU per association: bare storescp's children, the gateway's gate and
    storescp (xinetd's children), the filer; from the parallel phase (one instance each)."""
    runs = _sec(results, "parallel").get("runs") or []
    out = {}
    for receiver, key, name in (("a", "associations_cpu_s", "bare"), ("b", "associations_cpu_s", "gateway"),
                                ("b", "filer_cpu_s", "filer")):
        cpu = pooled(runs, receiver, key)
        n = pooled(runs, receiver, "instances")
        if cpu is not None and n:
            out[name] = 1000.0 * cpu / n
    return out


def _cpu_text(results):
    cpu = cpu_per_association(results)
    if not {"bare", "gateway"} <= set(cpu):
        return ""
    text = ("CPU per single-instance association (parallel phase): %.1f ms for the gate and storescp, %.1f ms for "
            "a forking storescp's child" % (cpu["gateway"], cpu["bare"]))
    if "filer" in cpu:
        text += ", plus %.1f ms in the filer" % cpu["filer"]
    return text


def _startup_text(results):
    """What an association starts that a forking storescp's child does not, CPU per start."""
    st = _sec(results, "sequential").get("startup") or {}
    if "storescp" not in st:
        return ""
    text = "a storescp start costs %.1f ms of CPU, %.1f ms of it reading dcmtk's data dictionaries" % (
        st["storescp"]["cpu_ms"], st["storescp"]["cpu_ms"] - st.get("storescp, no data dictionary", {}).get(
            "cpu_ms", st["storescp"]["cpu_ms"]))
    if "perl -e1" in st:
        text += ", perl's start %.1f ms" % st["perl -e1"]["cpu_ms"]
    return text


# --- one verdict per target -------------------------------------------------------------------

def burst(results):
    sec = _sec(results, "burst")
    row = {"key": "burst", "target": "burst of %d single-instance associations (each a new series), 2 CPU-bound "
           "processes running: all accepted and filed, as many as bare" % LIMITS["burst"],
           "reference": "(a) the same burst", "ok": None, "measured": "not measured"}
    runs = sec.get("runs") or {}
    if "b" not in runs or "a" not in runs:
        return row
    a, b = runs["a"], runs["b"]
    n = b["associations"]
    row["measured"] = "%d of %d filed byte for byte (bare: %d of %d stored)" % (
        b.get("identical") or 0, n, a.get("identical") or 0, a["associations"])
    row["ok"] = n >= LIMITS["burst"] and b.get("identical") == n and (b.get("identical") or 0) >= (a.get("identical") or 0)
    if not row["ok"]:
        row["by"] = ("%d not filed" % (n - (b.get("identical") or 0)) if b.get("identical") != n
                     else "a burst of %d only" % n if n < LIMITS["burst"] else "fewer than bare")
        refused = {k: v for k, v in (b.get("gate_log") or {}).items() if k != "accepted"}
        why = ["the gate logged %d accepted" % (b.get("gate_log") or {}).get("accepted", 0)]
        if refused:
            why.append("refused: %s" % ", ".join("%s %d" % kv for kv in sorted(refused.items())))
        if b.get("xinetd_fail"):
            why.append("xinetd refused connections (%s)" % "; ".join(b["xinetd_fail"]))
        if b.get("sender_errors"):
            why.append("senders saw: %s" % "; ".join(b["sender_errors"][:3]))
        row["why"] = "; ".join(why)
    return row


def sequential(results):
    rows = _sec(results, "sequential").get("rows") or {}
    row = {"key": "sequential", "target": "one association per instance, sequential: <= %.1f x bare per association"
           % LIMITS["sequential_ratio"], "reference": "(a), interleaved association by association",
           "ok": None, "measured": "not measured"}
    if not rows.get("a", {}).get("median_s") or not rows.get("b", {}).get("median_s"):
        return row
    a, b = rows["a"], rows["b"]
    ratio = b["median_s"] / a["median_s"]
    row["measured"] = "%.2f x (median %.1f ms vs %.1f ms; %d of %d filed byte for byte)" % (
        ratio, 1000 * b["median_s"], 1000 * a["median_s"], b.get("identical") or 0, b["associations"])
    row["ok"] = ratio <= LIMITS["sequential_ratio"] and _all_there(b, b["associations"])
    if not row["ok"]:
        row["by"] = ("%.2f x over" % (ratio - LIMITS["sequential_ratio"]) if ratio > LIMITS["sequential_ratio"]
                     else "%d not filed" % (b["associations"] - (b.get("identical") or 0)))
        why = ["each association costs the gateway an exec of perl (the gate) and an exec of storescp, which then "
               "loads and links dcmtk's libraries, where a forking storescp's child starts with all of that done"]
        nogate = rows.get("nogate", {}).get("median_s")
        if nogate:
            why.append("xinetd starting storescp without the gate: median %.1f ms (%.2f x bare)"
                       % (1000 * nogate, nogate / a["median_s"]))
        for text in (_startup_text(results), _cpu_text(results)):
            if text:
                why.append(text)
        row["why"] = "; ".join(why)
    return row


def parallel(results):
    runs = _sec(results, "parallel").get("runs") or []
    row = {"key": "parallel", "target": "1000 one-instance associations from 4 parallel senders, until all filed: "
           "<= %.1f x bare" % LIMITS["parallel_ratio"], "reference": "(a), runs in the order a b b a",
           "ok": None, "measured": "not measured"}
    a, b = pooled(runs, "a", "until_filed_s"), pooled(runs, "b", "until_filed_s")
    b_runs = [r for r in runs if r["receiver"] == "b"]
    if not b_runs:
        return row
    complete = all(_all_there(r) for r in b_runs)
    if a is None or b is None or not complete:
        row["measured"] = "%s of %s filed byte for byte" % (sum(r.get("identical") or 0 for r in b_runs),
                                                            sum(r["instances"] for r in b_runs))
        row["ok"] = False
        row["by"] = "not all filed"
        return row
    ratio = b / a
    n_b = len(b_runs)
    row["measured"] = "%.2f x (%.1f s vs %.1f s per run)" % (ratio, b / n_b, a / max(1, len(runs) - n_b))
    row["ok"] = ratio <= LIMITS["parallel_ratio"]
    if not row["ok"]:
        row["by"] = "%.2f x over" % (ratio - LIMITS["parallel_ratio"])
        why = ["the machine's 2 cores are the bottleneck: the senders, the associations and the filer share them, "
               "so the time follows the CPU each association costs"]
        for text in (_cpu_text(results), _startup_text(results)):
            if text:
                why.append(text)
        rec = [r["records"] for r in b_runs if r.get("records")]
        if rec:
            why.append("the filer filed each association %.2f s (median) after it ended"
                       % statistics.median(r["filing_s_median"] for r in rec if r["filing_s_median"] is not None))
        row["why"] = "; ".join(why)
    return row


def one_association_rate(results):
    runs = _sec(results, "one_association").get("runs") or []
    row = {"key": "rate", "target": "1000 instances in one association: transfer rate >= %.2f of bare"
           % LIMITS["rate_ratio"], "reference": "(a), runs in the order a b b a", "ok": None, "measured": "not measured"}
    rate = {}
    for receiver in ("a", "b"):
        mine = [r for r in runs if r["receiver"] == receiver]
        if mine and all(_all_there(r) and r["rc"] == 0 for r in mine):
            rate[receiver] = pooled(runs, receiver, "instances") / pooled(runs, receiver, "transfer_s")
    if "b" not in rate or "a" not in rate:
        if runs:
            row.update(measured="not every instance stored or filed byte for byte", ok=False, by="incomplete")
        return row
    ratio = rate["b"] / rate["a"]
    row["measured"] = "%.2f (%.0f vs %.0f instances/s)" % (ratio, rate["b"], rate["a"])
    row["ok"] = ratio >= LIMITS["rate_ratio"]
    if not row["ok"]:
        row["by"] = "%.0f %% below" % (100 * (LIMITS["rate_ratio"] - ratio) / LIMITS["rate_ratio"])
        spread = []
        for receiver in ("a", "b"):
            rates = [r["instances"] / r["transfer_s"] for r in runs if r["receiver"] == receiver]
            spread.append("%s %.0f-%.0f" % (receiver, min(rates), max(rates)))
        row["why"] = ("both are the same storescp with the same options, and the gateway's only extra work during a "
                      "transfer is the gate's start (milliseconds); the runs of each vary among themselves "
                      "(instances/s: %s) on this shared machine" % ", ".join(spread))
    return row


def filing(results):
    runs = [r for r in (_sec(results, "one_association").get("runs") or []) if r["receiver"] == "b"]
    row = {"key": "filing", "target": "1000 instances in one association: all filed within %.0f s of release"
           % LIMITS["filing_s"], "reference": "the release as the sender saw it", "ok": None, "measured": "not measured"}
    if not runs:
        return row
    worst = max(r["filed_after_release_s"] for r in runs)
    complete = all(_all_there(r) for r in runs)
    row["measured"] = "%s s (worst of %d runs; %s)" % (
        "/".join("%.2f" % r["filed_after_release_s"] for r in runs), len(runs),
        "all filed byte for byte" if complete else "NOT all filed")
    row["ok"] = complete and worst <= LIMITS["filing_s"]
    if not row["ok"]:
        row["by"] = "%.2f s over" % (worst - LIMITS["filing_s"]) if complete else "not all filed"
        cpu = [r.get("filer_cpu_s") for r in runs if r.get("filer_cpu_s") is not None]
        why = ("the filer starts when storescp releases the association's lock and files its instances one after "
               "another (a header read, pypx's directory logic, a hashed copy), then syncs the file system once")
        if cpu:
            why += "; it used %.2f s of CPU per run" % statistics.mean(cpu)
            pressure = (_sec(results, "one_association").get("load") or {}).get("cpu_pressure_mean")
            if pressure is not None:
                why += (", which took %.2f-%.2f s while tasks waited for a CPU %.0f %% of the time (CPU pressure)"
                        % (min(r["filed_after_release_s"] for r in runs), worst, pressure))
        row["why"] = why
    return row


def checks(results):
    sec = _sec(results, "sequential")
    blocks, rows = sec.get("cpu_blocks") or {}, sec.get("rows") or {}
    row = {"key": "checks", "target": "the gate's AE title and source checks cost <= %.0f %% of the rate"
           % (100 * LIMITS["checks_cost"]),
           "reference": "the same gateway behind gate rules with dicom_listener_called_aetitle_check and "
                        "calling_aetitle_check false: CPU per association in blocks b, off, off, b", "ok": None,
           "measured": "not measured"}
    on = (blocks.get("b") or {}).get("cpu_ms_per_association")
    off = (blocks.get("b_nocheck") or {}).get("cpu_ms_per_association")
    if not on or not off:
        return row
    cost = 1 - off / on
    row["measured"] = "%s of the rate on a CPU-bound gateway (%.1f ms of CPU per association with the checks, %.1f ms " \
                      "without)" % (_pct(cost), on, off)
    nogate = (blocks.get("nogate") or {}).get("cpu_ms_per_association")
    if nogate:
        row["measured"] += "; the whole gate: %s (storescp without it: %.1f ms)" % (_pct(1 - nogate / on), nogate)
    won, woff = (rows.get("b") or {}).get("median_s"), (rows.get("b_nocheck") or {}).get("median_s")
    if won and woff:
        row["measured"] += "; sender's wall time, interleaved: median %.1f ms with, %.1f ms without" % (
            1000 * won, 1000 * woff)
    row["ok"] = cost <= LIMITS["checks_cost"]
    if not row["ok"]:
        row["by"] = "%.1f points over" % (100 * (cost - LIMITS["checks_cost"]))
        row["why"] = ("the checks are a few string and address comparisons in the gate, which runs either way; "
                      "a larger difference is noise between blocks on a shared machine")
    return row


def memory_figures(results):
    """Per association (PSS and RSS) in the burst and the paced transfer, the filer's peak."""
    out = {}
    for label, mem in (("burst", ((_sec(results, "burst").get("runs") or {}).get("b") or {}).get("memory")),
                       ("paced", _sec(results, "paced").get("memory"))):
        per = (mem or {}).get("per_association")
        if per:
            out[label] = per
    filer = []
    for label, mem in (("one association", _sec(results, "one_association").get("memory")),
                       ("burst", ((_sec(results, "burst").get("runs") or {}).get("b") or {}).get("memory"))):
        entry = (mem or {}).get("filer")
        if entry:
            filer.append((label, entry))
    out["filer"] = filer
    return out


def association_memory(results):
    figures = memory_figures(results)
    row = {"key": "association_memory", "target": "memory per association in progress <= %.0f MiB (PSS)"
           % LIMITS["association_mib"], "reference": "absolute", "ok": None, "measured": "not measured"}
    per = {k: v for k, v in figures.items() if k != "filer"}
    if not per:
        return row
    worst = max(v["max_pss_mib_per_process_busy"] for v in per.values())
    row["measured"] = "; ".join(
        "%s: %.1f MiB PSS each with %d in progress (RSS %.1f MiB each)" % (
            k, v["max_pss_mib_per_process_busy"], v["max_processes"], v["rss_mib_per_process_at_peak"])
        for k, v in sorted(per.items()))
    row["ok"] = worst <= LIMITS["association_mib"]
    if not row["ok"]:
        row["by"] = "%.1f MiB over" % (worst - LIMITS["association_mib"])
        row["why"] = "storescp's private memory per association (its heap and the pages it writes) exceeds the target"
    return row


def filer_memory(results):
    figures = memory_figures(results)["filer"]
    row = {"key": "filer_memory", "target": "the filer <= %.0f MiB" % LIMITS["filer_mib"], "reference": "absolute",
           "ok": None, "measured": "not measured"}
    if not figures:
        return row
    peak = max(max(e.get("hwm_mib") or 0, e["max_rss_mib_one"]) for _l, e in figures)
    row["measured"] = "%.1f MiB peak RSS (VmHWM); %s" % (peak, "; ".join(
        "%s: PSS up to %.1f, RSS up to %.1f MiB" % (label, e["max_pss_mib_one"], e["max_rss_mib_one"])
        for label, e in figures))
    row["ok"] = peak <= LIMITS["filer_mib"]
    if not row["ok"]:
        row["by"] = "%.1f MiB over" % (peak - LIMITS["filer_mib"])
        row["why"] = "the filer holds pydicom, pypx's modules and each association's list of files in memory"
    return row


def second_converge(results):
    an = _sec(results, "ansible")
    row = {"key": "second_converge", "target": "second converge (changed=0) <= %.0f s over the Docker connection"
           % LIMITS["second_converge_s"], "reference": "absolute; the first converge for scale", "ok": None,
           "measured": "not measured"}
    second = an.get("second_converge")
    if not second:
        return row
    changed = sum(h["changed"] for h in second["recap"].values())
    ran = sum(h["ok"] for h in second["recap"].values())
    skipped = sum(h.get("skipped", 0) for h in second["recap"].values())
    row["measured"] = "%.1f s, changed=%d (first converge %.1f s)" % (second["wall_s"], changed,
                                                                      an["first_converge"]["wall_s"])
    row["ok"] = second["wall_s"] <= LIMITS["second_converge_s"] and changed == 0
    if not row["ok"]:
        row["by"] = ("%.1f s over" % (second["wall_s"] - LIMITS["second_converge_s"]) if changed == 0
                     else "changed=%d" % changed)
        remote = [t["s"] for t in second.get("tasks", []) if t["s"] >= 0.2]
        why = "nothing changes, yet %d tasks run (and %d are skipped)" % (ran, skipped)
        if remote:
            why += ("; %d of them each take at least one round trip into the gateway (docker exec, then Python "
                    "starting the module): %.2f s each on average here, %.1f s together"
                    % (len(remote), statistics.mean(remote), sum(remote)))
            pressure = (an.get("load") or {}).get("cpu_pressure_mean")
            if pressure is not None:
                why += " (CPU pressure %.0f %% during the converges)" % pressure
        row["why"] = why
    return row


def health(results):
    sec = _sec(results, "health")
    row = {"key": "health", "target": "health scan of an archive of 1,000,000 instances: <= %.0f s and <= %.0f MiB"
           % (LIMITS["health_s"], LIMITS["health_mib"]), "reference": "absolute", "ok": None, "measured": "not measured"}
    runs = [r for r in sec.get("records_health") or [] if r.get("rc") == 0]
    if not runs:
        return row
    wall, rss = max(r["wall_s"] for r in runs), max(r["max_rss_mib"] for r in runs)
    row["measured"] = "records.health: %.2f s, %.1f MiB max RSS (worst of %d runs, %s instances on disk)" % (
        wall, rss, len(runs), "{:,}".format(sec.get("archive", {}).get("instances", 0)))
    row["ok"] = wall <= LIMITS["health_s"] and rss <= LIMITS["health_mib"]
    if not row["ok"]:
        row["by"] = "%.2f s, %.1f MiB over" % (max(0, wall - LIMITS["health_s"]), max(0, rss - LIMITS["health_mib"]))
    return row


def health_status(results):
    """The status playbook's call of dicom_listener_info (its health reads records.health: the tmp
    tree and the stats file), kept on the gateway and run again there, against the same target."""
    sec = _sec(results, "health")
    row = {"key": "health_status", "target": "the same for the status playbook's dicom_listener_info",
           "reference": "absolute", "ok": None, "measured": "not measured"}
    module = (sec.get("status") or {}).get("module")
    if not module or module.get("rc") != 0:
        return row
    wall, rss = module["wall_s"], module["max_rss_mib"]
    row["measured"] = "dicom_listener_info (status playbook): %.2f s, %.1f MiB" % (wall, rss)
    row["ok"] = wall <= LIMITS["health_s"] and rss <= LIMITS["health_mib"]
    if not row["ok"]:
        over = []
        if wall > LIMITS["health_s"]:
            over.append("%.2f s" % (wall - LIMITS["health_s"]))
        if rss > LIMITS["health_mib"]:
            over.append("%.1f MiB" % (rss - LIMITS["health_mib"]))
        row["by"] = " and ".join(over) + " over"
        row["why"] = ("besides records.health the module starts Python with Ansible's module wrapper and reads the "
                      "listener's settings, units and processes; see the health scan table")
    return row


def verdicts(results):
    return [f(results) for f in (burst, sequential, parallel, one_association_rate, filing, checks,
                                 association_memory, filer_memory, second_converge, health, health_status)]
