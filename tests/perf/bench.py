"""The benchmark behind `make bench`: one run, side by side on this machine, every ratio against a
reference measured in the same run (these machines are throttled after minutes of load).

The gateway (b) is converged by the role with the site playbook in a systemd container; in the
same container run the references (receivers.py): (a) a forking bare storescp with the gateway's
storescp options, (b) behind a gate with the AE title checks off, and xinetd starting storescp
without the gate; (c) Orthanc runs in a container of its own. Studies are generated with pydicom
(fresh UIDs) and sent from the Docker host with dcmtk's storescu (TCP_NODELAY=1).

Phases: the first and second converge; 1000 instances in one association (a b b a a b b a); sequential
single-instance associations, rotating among the receivers; 1000 single-instance associations
from 4 parallel senders (a b b a); a burst of 200 single-instance associations, each a new
series, while two CPU-bound processes run; a paced transfer for memory; the health scan of a
synthetic archive of 1,000,000 instances. Every figure is counted from what is on disk: files
stored or filed whose data set is byte for byte the one sent (or Orthanc's own count), never the
sender's exit status. Memory is PSS and RSS from /proc/<pid>/smaps_rollup (memory.py).

Writes docs/bench/results.json, REPORT.md, bench.png and the block of docs/benchmark.md (report.py
re-renders them from results.json). Containers are named pacsgate-perf-bench-* and removed at the
end (and at the start, if left over).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

from benchlib import (PREFIX, REPO, CpuHogs, LoadSampler, MemorySampler, Watcher, burst_send, container_ip,
                      copy_scripts, dexec, log, machine, new_study, playbook, push_digests, remove_containers,
                      run, send_each, start_gateway, storescu, utc_now, wait_echo, write_inventory)
import healthscan
import receivers
from receivers import AETITLES, BARE_DIR, DATA, LOG, NOGATE_DIR, ORTHANC_STORAGE, PORTS

GW = PREFIX + "gw"
ORTHANC = PREFIX + "orthanc"
ABBA = ("a", "b", "b", "a")


class Bench:
    def __init__(self, opts, work, sampler):
        self.opts, self.work, self.sampler = opts, work, sampler
        self.ip = {}
        self.studies = 0

    def study(self, n, series=1):
        self.studies += 1
        return new_study(self.work, "s%03d" % self.studies, n, series=series)

    def host(self, receiver):
        return ORTHANC if receiver == "c" else GW

    def watcher(self, receiver, study, timeout=600):
        """Counts what `receiver` stored or filed of `study`, then checks it byte for byte."""
        container = self.host(receiver)
        digests = push_digests(container, study)
        if receiver in ("b", "b_nocheck"):
            return Watcher(container, "gateway", DATA, study["study_uid"], study["n"], study["series_count"],
                           timeout=timeout, digests=digests)
        if receiver == "c":
            return Watcher(container, "orthanc", "http://127.0.0.1:8042", self.orthanc_base + study["n"],
                           ORTHANC_STORAGE, timeout=timeout, digests=digests)
        directory = BARE_DIR if receiver == "a" else NOGATE_DIR
        receivers.clear_bare(GW)
        return Watcher(container, "files", directory, study["n"], timeout=timeout, digests=digests)

    @property
    def orthanc_base(self):
        out = dexec(ORTHANC, "python3 -c \"import sys; sys.path.insert(0, '/bench'); import watch; "
                             "print(watch.count_orthanc('http://127.0.0.1:8042'))\"").stdout
        return int(out.strip())

    def cpu(self):
        return json.loads(dexec(GW, "python3 /bench/memory.py cpu").stdout)

    def cpu_since(self, before, receiver):
        """CPU seconds of the receiver's associations (and the filer's) since `before`."""
        after = self.cpu()
        if receiver == "a":
            return {"associations_cpu_s": round(after["bare_children"] - before["bare_children"], 2)}
        if receiver in ("b", "b_nocheck"):
            return {"associations_cpu_s": round(after["xinetd_children"] - before["xinetd_children"], 2),
                    "filer_cpu_s": round(after["filer"] - before["filer"], 2)}
        return {}

    def records(self, since):
        return json.loads(dexec(GW, "python3 /bench/watch.py records %s %f" % (receivers.TMP, since)).stdout)

    def send(self, receiver, paths, **kwargs):
        return storescu(self.ip[receiver], PORTS[receiver], AETITLES[receiver], paths, **kwargs)

    # --- phases ----------------------------------------------------------------------------

    def one_association(self):
        """1000 instances in one association: a b b a a b b a, then Orthanc once; the filer's memory."""
        runs = []
        memory = MemorySampler(GW)
        for receiver in ABBA * 2 + (("c",) if self.opts.orthanc else ()):
            s = self.study(self.opts.instances, series=2)
            w = self.watcher(receiver, s, timeout=300)
            time.sleep(0.5)
            before = self.cpu()
            res, t0, t1 = self.send(receiver, [s["dir"]])
            seen = w.result()
            row = {"receiver": receiver, "instances": s["n"], "rc": res.returncode, "transfer_s": round(t1 - t0, 3),
                   "counted": seen["count"], "identical": seen.get("identical"), "complete": seen["complete"],
                   "filed_after_release_s": round(max(0.0, seen["done_at"] - t1), 3)}
            row.update(self.cpu_since(before, receiver))
            if receiver == "b":
                row["records"] = self.records(t0)
            runs.append(row)
            log("one association: %s" % json.dumps(row))
        return {"runs": runs, "memory": memory.stop()}

    def sequential(self):
        """Single-instance associations one after the other, rotating among the receivers."""
        order = ["a", "b", "b_nocheck", "nogate"] + (["c"] if self.opts.orthanc else [])
        n = self.opts.sequential
        studies = {r: self.study(n) for r in order}
        times = {r: [] for r in order}
        receivers.clear_bare(GW)
        for i in range(n):
            for r in order:
                res, t0, t1 = self.send(r, [studies[r]["files"][i]], timeout=120)
                times[r].append(round(t1 - t0, 4) if res.returncode == 0 else None)
        rows = {}
        for r in order:
            # Everything was sent: count what is there now (a, nogate: stored on arrival).
            seen = self.watcher_after(r, studies[r])
            ok = [t for t in times[r] if t is not None]
            rows[r] = {"associations": n, "sender_ok": len(ok), "times_s": times[r],
                       "median_s": round(statistics.median(ok), 4) if ok else None,
                       "mean_s": round(statistics.mean(ok), 4) if ok else None,
                       "counted": seen["count"], "identical": seen.get("identical"), "complete": seen["complete"]}
            log("sequential %s: median %s s, %s of %d counted" % (r, rows[r]["median_s"], seen["count"], n))
        return {"order": order, "rows": rows, "cpu_blocks": self.cpu_blocks(), "startup": self.startup()}

    def cpu_blocks(self, block=20):
        """CPU per association of the gateway with and without the AE title checks, and of
        storescp without the gate: blocks of single-instance associations in the order
        b, b_nocheck, nogate, nogate, b_nocheck, b, each block's reaped CPU time read from xinetd."""
        out = {}
        for receiver in ("b", "b_nocheck", "nogate", "nogate", "b_nocheck", "b"):
            s = self.study(block)
            before = self.cpu()
            _t0, _t1, results = send_each(self.ip[receiver], PORTS[receiver], AETITLES[receiver], s["files"])
            time.sleep(0.5)  # xinetd reaps the last storescp
            after = self.cpu()
            entry = out.setdefault(receiver, {"associations": 0, "cpu_s": 0.0, "sender_ok": 0})
            entry["associations"] += len(results)
            entry["sender_ok"] += sum(1 for rc, _s in results if rc == 0)
            entry["cpu_s"] = round(entry["cpu_s"] + after["xinetd_children"] - before["xinetd_children"], 3)
        for entry in out.values():
            entry["cpu_ms_per_association"] = round(1000 * entry["cpu_s"] / entry["associations"], 2)
        log("CPU per association: %s" % {k: v["cpu_ms_per_association"] for k, v in out.items()})
        return out

    def startup(self, runs=50):
        """CPU and wall time per start, in the gateway container, of what an association starts
        that a forking storescp's child does not: storescp (with dcmtk's data dictionaries as
        installed, with dicom.dic only, with none), perl, and the gate's compile."""
        out = {}
        argv = "storescp --inetd --aetitle X --output-directory /tmp/bench-startup </dev/null >/dev/null 2>&1"
        for label, command in (
                ("storescp", argv),
                ("storescp, dicom.dic only", "DCMDICTPATH=/usr/share/libdcmtk17/dicom.dic " + argv),
                ("storescp, no data dictionary", "DCMDICTPATH=/tmp/bench-empty.dic " + argv),
                ("perl -e1", "perl -e1"),
                ("perl -c pacsgate-gate", "perl -c /usr/local/libexec/pacsgate/pacsgate-gate 2>/dev/null"),
                ("/bin/true", "/bin/true")):
            res = dexec(GW, "mkdir -p /tmp/bench-startup && : > /tmp/bench-empty.dic && /usr/bin/time -f '%%e %%U %%S' "
                            "sh -c 'for i in $(seq %d); do %s; done' 2>&1 >/dev/null | tail -1" % (runs, command))
            wall, user, system = (float(x) for x in res.stdout.split())
            out[label] = {"cpu_ms": round(1000 * (user + system) / runs, 2), "wall_ms": round(1000 * wall / runs, 2)}
        log("start-up costs: %s" % out)
        return out

    def watcher_after(self, receiver, study):
        """Like watcher(), for what was already sent (the bare dirs are not cleared first)."""
        container = self.host(receiver)
        digests = push_digests(container, study)
        if receiver in ("b", "b_nocheck"):
            w = Watcher(container, "gateway", DATA, study["study_uid"], study["n"], study["series_count"],
                        timeout=120, digests=digests)
        elif receiver == "c":
            w = Watcher(container, "orthanc", "http://127.0.0.1:8042", 0, ORTHANC_STORAGE, timeout=5,
                        digests=digests)
        else:
            w = Watcher(container, "files", BARE_DIR if receiver == "a" else NOGATE_DIR, study["n"], timeout=30,
                        digests=digests)
        seen = w.result()
        if receiver == "c":
            seen["count"] = seen.get("identical", 0)
            seen["complete"] = seen["count"] >= study["n"]
        return seen

    def parallel(self):
        """1000 single-instance associations from 4 parallel senders until all are filed: a b b a."""
        runs = []
        for receiver in ABBA:
            s = self.study(self.opts.instances, series=10)
            w = self.watcher(receiver, s, timeout=900)
            time.sleep(0.5)
            before = self.cpu()
            t0, t1, results = send_each(self.ip[receiver], PORTS[receiver], AETITLES[receiver], s["files"],
                                        senders=4)
            seen = w.result()
            done = max(t1, seen["done_at"]) if seen["complete"] else None
            row = {"receiver": receiver, "instances": s["n"], "senders": 4, "sent_s": round(t1 - t0, 2),
                   "until_filed_s": round(done - t0, 2) if done else None,
                   "sender_failures": sum(1 for rc, _s in results if rc != 0),
                   "counted": seen["count"], "identical": seen.get("identical"), "complete": seen["complete"]}
            row.update(self.cpu_since(before, receiver))
            if receiver == "b":
                row["records"] = self.records(t0)
            runs.append(row)
            log("parallel: %s" % json.dumps(row))
        return {"runs": runs}

    def burst(self):
        """200 single-instance associations, each a new series, started at once while two
        CPU-bound processes run: (a), then (b); memory sampled during each."""
        out = {"associations": self.opts.burst, "cpu_hogs": 2, "runs": {}}
        hogs = CpuHogs(2)
        try:
            time.sleep(2)
            for receiver in ("a", "b"):
                s = self.study(self.opts.burst, series=self.opts.burst)
                offset = int(dexec(GW, "stat -c %%s %s/associations.log" % LOG).stdout.strip())
                since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 1))
                w = self.watcher(receiver, s, timeout=600)
                memory = MemorySampler(GW)
                time.sleep(1)
                before = self.cpu()
                t0, t1, rcs, errors = burst_send(self.ip[receiver], PORTS[receiver], AETITLES[receiver], s["files"])
                seen = w.result()
                row = {"associations": len(rcs), "sender_ok": rcs.count(0), "sender_errors": errors,
                       "senders_done_s": round(t1 - t0, 2),
                       "until_filed_s": round(max(t1, seen["done_at"]) - t0, 2) if seen["complete"] else None,
                       "counted": seen["count"], "identical": seen.get("identical"), "complete": seen["complete"],
                       "memory": memory.stop()}
                row.update(self.cpu_since(before, receiver))
                if receiver == "b":
                    row.update(self.gate_log(offset, since))
                    row["records"] = self.records(t0)
                out["runs"][receiver] = row
                log("burst %s: %s" % (receiver, json.dumps({k: v for k, v in row.items() if k != "memory"})))
        finally:
            hogs.stop()
        return out

    def gate_log(self, offset, since):
        """What the gate logged since `offset` and xinetd's FAIL lines since `since`."""
        lines = dexec(GW, "tail -c +%d %s/associations.log" % (offset + 1, LOG)).stdout.splitlines()
        counts = {}
        for line in lines:
            parts = line.split()
            if len(parts) >= 3 and "calling=BENCH" in parts:
                key = parts[1] if parts[1] == "accepted" else "refused " + parts[2]
                counts[key] = counts.get(key, 0) + 1
        fails = dexec(GW, "journalctl -u xinetd --no-pager --since '%s' | grep -o 'FAIL: [^ ]* [^ ]*' | sort "
                          "| uniq -c" % since, check=False).stdout.splitlines()
        return {"gate_log": counts, "xinetd_fail": [f.strip() for f in fails if f.strip()]}

    def paced(self):
        """Many associations in progress at once, each sending slowly: memory per association."""
        n, each, pause = self.opts.paced, 10, 0.5
        dirs = []
        s = self.study(n * each, series=n)
        for k in range(n):
            d = os.path.join(self.work, "paced-%03d" % k)
            os.makedirs(d)
            for path in s["files"][k * each:(k + 1) * each]:
                shutil.copy(path, d)
            dirs.append(d)
        w = self.watcher("b", s, timeout=300)
        memory = MemorySampler(GW)
        time.sleep(1)
        res = run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "paced.py"),
                   self.ip["b"], str(PORTS["b"]), AETITLES["b"], str(pause)] + dirs, check=False)
        mem = memory.stop()
        seen = w.result()
        try:
            sent = json.loads(res.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            sent = {"error": (res.stdout + res.stderr)[-500:]}
        return {"associations": n, "instances_each": each, "pause_s": pause, "sender": sent, "counted": seen["count"],
                "identical": seen.get("identical"), "complete": seen["complete"], "memory": mem}


def converges(bench, results, inv):
    t0 = time.time()
    first = playbook(inv, "site.yml", logfile=os.path.join(bench.work, "converge-1.log"))
    log("first converge: %s s" % first["wall_s"])
    second = playbook(inv, "site.yml", logfile=os.path.join(bench.work, "converge-2.log"))
    log("second converge: %s s, %s" % (second["wall_s"], second["recap"]))
    results["sections"]["ansible"] = {"first_converge": first, "second_converge": second,
                                      "load": bench.sampler.summary(t0, time.time())}


def phase(results, bench, name, func):
    log("phase %s" % name)
    t0 = time.time()
    out = func()
    out["load"] = bench.sampler.summary(t0, time.time())
    out["wall_s"] = round(time.time() - t0, 1)
    results["sections"][name] = out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--sequential", type=int, default=40, help="single-instance associations per receiver")
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--paced", type=int, default=50, help="associations of the paced transfer")
    parser.add_argument("--archive-patients", type=int, default=1000,
                        help="patients of the synthetic archive (x 2 studies x 5 series x 100 instances)")
    parser.add_argument("--no-orthanc", dest="orthanc", action="store_false")
    parser.add_argument("--only", help="comma-separated phases to run (converges always run)")
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "bench"))
    parser.add_argument("--keep", action="store_true", help="keep the containers")
    parser.add_argument("--gateway", help="measure this converged pacsgate-perf-bench-* container instead of "
                        "converging a fresh one (no converge figures; for working on the benchmark)")
    opts = parser.parse_args()
    if opts.gateway:
        if not opts.gateway.startswith(PREFIX):
            parser.error("--gateway must name a %s* container" % PREFIX)
        global GW  # pylint: disable=global-statement
        GW, opts.keep = opts.gateway, True
        remove_containers([ORTHANC])
    else:
        remove_containers()
    sampler = LoadSampler()
    sampler.start()
    work = tempfile.mkdtemp(prefix="pacsgate-bench-")
    bench = Bench(opts, work, sampler)
    results = {"started": utc_now(), "machine": machine(), "options": vars(opts), "sections": {}}
    t_start = time.time()
    failed = True
    try:
        inv = os.path.join(work, "inventory.yml")
        write_inventory(inv, [GW])
        if not opts.gateway:
            log("starting %s and converging it with the role" % GW)
            start_gateway(GW)
            converges(bench, results, inv)
        copy_scripts(GW)
        receivers.setup_gateway_extras(GW)
        results["versions"] = receivers.versions(GW)
        if opts.orthanc:
            log("installing Orthanc in %s" % ORTHANC)
            results["versions"]["orthanc"] = receivers.setup_orthanc(ORTHANC, os.environ["PACSGATE_IMAGE"])
            bench.ip["c"] = container_ip(ORTHANC)
            wait_echo(bench.ip["c"], PORTS["c"], AETITLES["c"])
        gw_ip = container_ip(GW)
        for receiver in ("a", "b", "b_nocheck", "nogate"):
            bench.ip[receiver] = gw_ip
            wait_echo(gw_ip, PORTS[receiver], AETITLES[receiver])
        wanted = set(opts.only.split(",")) if opts.only else None
        for name, func in (("one_association", bench.one_association), ("sequential", bench.sequential),
                           ("parallel", bench.parallel), ("burst", bench.burst), ("paced", bench.paced),
                           ("health", lambda: healthscan.run_scan(GW, work, opts.archive_patients, inv))):
            if wanted is None or name in wanted:
                phase(results, bench, name, func)
        failed = False
    finally:
        sampler.stop.set()
        results["wall_s"] = round(time.time() - t_start)
        results["load"] = sampler.summary()
        results["load_samples"] = [{k: s[k] for k in ("t", "load1", "cpu_some_avg10")} for s in sampler.samples]
        if failed:
            results["notes"] = ["this run stopped early: %s" % (sys.exc_info()[1],)]
        os.makedirs(opts.out, exist_ok=True)
        with open(os.path.join(opts.out, "results.json"), "w") as handle:
            json.dump(results, handle, indent=1)
        log("results in %s; removing the containers (a minute or more for the synthetic archive)" % opts.out)
        if not opts.keep:
            remove_containers()
        elif opts.gateway and opts.orthanc:
            remove_containers([ORTHANC])
        if failed:
            log("failed; the converge logs are in %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    # matplotlib only once everything is measured
    import report  # pylint: disable=import-outside-toplevel
    report.write(results, opts.out, REPO)
    return 0


if __name__ == "__main__":
    sys.exit(main())
