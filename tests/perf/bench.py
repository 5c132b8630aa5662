"""The benchmark behind `make bench`: one run, side by side on this machine.

Receivers, each in a container of its own image family, sent to from the Docker host with dcmtk's
storescu (TCP_NODELAY=1), studies generated with pydicom (fresh UIDs, tests/molecule/dicomstudy.py):
  (a) a persistent dcmtk storescp with TCP_NODELAY, in the gateway container: the practical limit;
  (b) the gateway the role deploys (xinetd, the lean launcher, px-listen), converged by the role;
  (c) Orthanc from Debian's package, TCP_NODELAY in its environment too;
  (d) pypx's per-file mode: storescp -xcr "px-repack ... --cleanup", as pypx's storescp.sh builds
      it, as installed (pydicom 3) and with a documented read_file shim.
Every figure is counted: files on disk (or Orthanc's own instance count), never assumed from the
sender's exit status. Writes docs/bench/REPORT.md, results.json, bench.png and the block of
docs/benchmark.md.
Containers are named pacsgate-perf-bench-* and removed at the end (and at the start, if left over).
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "molecule"))
import dicomstudy  # noqa: E402

PREFIX = "pacsgate-perf-bench-"
GW = PREFIX + "gw"
ORTHANC = PREFIX + "orthanc"
SENDER_AET = "BENCH"
GW_AET = "CHRISLOCAL"
PORT_B, PORT_A, PORT_D, PORT_D_SHIM, PORT_C = 10402, 11112, 11113, 11114, 4242
STORESCU = "/usr/bin/storescu"
DOCKER_SYSTEMD = ["--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined", "--cgroupns=host",
                  "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock"]
TARGETS = {
    "transfer_ratio": 0.8, "filing_s": 2.0, "per_assoc_s": 0.4, "second_converge_s": 15.0, "fleet_ratio": 2.5,
}


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def run(argv, check=True, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    res = subprocess.run(argv, check=False, **kwargs)
    if check and res.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s" % (" ".join(argv), res.returncode, res.stdout[-2000:],
                                                     res.stderr[-2000:]))
    return res


def dexec(container, script, check=True, env=None, detach=False):
    argv = ["docker", "exec"] + (["-d"] if detach else [])
    for key, value in (env or {}).items():
        argv += ["-e", "%s=%s" % (key, value)]
    return run(argv + [container, "sh", "-c", script], check=check)


def container_ip(name):
    return run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                name]).stdout.split()[0]


def our_containers():
    out = run(["docker", "ps", "-a", "--filter", "name=^/" + PREFIX, "--format", "{{.Names}}"]).stdout.split()
    return [n for n in out if n.startswith(PREFIX)]


def remove_containers(names=None):
    names = our_containers() if names is None else names
    if names:
        run(["docker", "rm", "-f"] + names, check=False)


def start_gateway(name):
    run(["docker", "run", "-d", "--name", name, "--hostname", name] + DOCKER_SYSTEMD
        + ["-v", "%s:/root/.cache/pip:rw" % os.environ["PACSGATE_PIP_CACHE"], os.environ["PACSGATE_IMAGE"],
           "/lib/systemd/systemd"])
    for _attempt in range(60):
        state = dexec(name, "systemctl is-system-running 2>/dev/null || true", check=False).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(1)


class LoadSampler(threading.Thread):
    """Samples /proc/loadavg and docker's running container count every 5 s."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            with open("/proc/loadavg") as handle:
                load1 = float(handle.read().split()[0])
            others = [n for n in run(["docker", "ps", "--format", "{{.Names}}"], check=False).stdout.split()
                      if not n.startswith(PREFIX)]
            self.samples.append({"t": time.time(), "load1": load1, "other_containers": len(others)})
            self.stop.wait(5)

    def summary(self, t0=None, t1=None):
        sel = [s for s in self.samples if (t0 is None or s["t"] >= t0 - 5) and (t1 is None or s["t"] <= t1 + 5)]
        if not sel:
            return None
        loads = [s["load1"] for s in sel]
        return {"min": min(loads), "mean": round(statistics.mean(loads), 2), "max": max(loads),
                "other_containers_max": max(s["other_containers"] for s in sel)}


def machine():
    info = {"kernel": platform.release(), "cores": os.cpu_count(), "python": platform.python_version()}
    with open("/proc/cpuinfo") as handle:
        models = re.findall(r"^model name\s*:\s*(.*)$", handle.read(), re.M)
    info["cpu"] = models[0] if models else platform.processor()
    with open("/proc/meminfo") as handle:
        kb = int(re.search(r"MemTotal:\s+(\d+)", handle.read()).group(1))
    info["ram_gib"] = round(kb / 1024 / 1024, 1)
    info["docker"] = run(["docker", "version", "-f", "{{.Server.Version}}"], check=False).stdout.strip()
    info["dcmtk"] = run([STORESCU, "--version"], check=False).stdout.splitlines()[0:1]
    return info


# --- Ansible --------------------------------------------------------------------------------

def write_inventory(path, hosts):
    pacs_host = os.environ["PACSGATE_DOCKER_HOST_IP"]
    lines = ["pacs_gateways:", "  hosts:"]
    for host in hosts:
        lines += ["    %s:" % host, "      ansible_connection: community.docker.docker"]
    lines += ["  vars:",
              "    dicom_listener_pip_ca_bundle: %s" % json.dumps(os.environ.get("PACSGATE_PIP_CA_BUNDLE", "")),
              "    dicom_listener_pacs:",
              "      - {name: bench, aetitle: %s, host: %s, port: 104}" % (SENDER_AET, pacs_host)]
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")


def converge(inventory, forks=5, logfile=None):
    t0 = time.monotonic()
    # Pipelining, as the Molecule scenarios use it; profile_tasks names the slowest tasks.
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_PIPELINING="1",
               ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks", PROFILE_TASKS_TASK_OUTPUT_LIMIT="6")
    res = run(["ansible-playbook", "-i", inventory, "-f", str(forks), os.path.join(REPO, "playbooks", "site.yml")],
              check=False, env=env)
    wall = time.monotonic() - t0
    if logfile:
        with open(logfile, "w") as handle:
            handle.write(res.stdout + res.stderr)
    recap = {}
    for m in re.finditer(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", res.stdout, re.M):
        recap[m.group(1)] = {"ok": int(m.group(2)), "changed": int(m.group(3)), "unreachable": int(m.group(4)),
                             "failed": int(m.group(5))}
    if res.returncode != 0:
        raise RuntimeError("ansible-playbook failed (see %s): %s" % (logfile, res.stdout[-3000:]))
    slowest = re.findall(r"^(.+?) -+ (\d+\.\d+)s$", res.stdout, re.M)[-6:]
    return {"wall_s": round(wall, 1), "recap": recap,
            "slowest_tasks": [{"task": t.strip(), "s": float(s)} for t, s in slowest]}


# --- Sending and counting -----------------------------------------------------------------------

def storescu(ip, port, aec, paths, timeout=900):
    env = dict(os.environ, TCP_NODELAY="1")
    t0 = time.time()
    res = subprocess.run([STORESCU, "-aet", SENDER_AET, "-aec", aec, "+sd", ip, str(port)] + list(paths),
                         capture_output=True, text=True, env=env, timeout=timeout, check=False)
    return res, t0, time.time()


def watcher(container, *args, timeout=600, idle=None):
    argv = ["docker", "exec", container, "python3", "/bench/watch.py"] + [str(a) for a in args] + [
        "--timeout", str(timeout)]
    if idle:
        argv += ["--idle", idle]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def watched(proc):
    out, err = proc.communicate()
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError("watcher failed: %s %s" % (out, err))


def new_study(workdir, name, n, series=2):
    out = os.path.join(workdir, name)
    per = n // series
    manifest = dicomstudy.make_study(out, series=series, per_series=per, description="BENCH " + name.upper())
    manifest["dir"] = out
    manifest["n"] = per * series
    manifest["files"] = sorted(os.path.join(out, f) for f in os.listdir(out))
    return manifest


def throughput(label, ip, port, aec, study, start_watch, idle_watch=None):
    """Send the study in one association; count what the receiver stored or filed."""
    w = start_watch() if start_watch else None
    time.sleep(0.5 if w else 0)
    res, t0, t1 = storescu(ip, port, aec, [study["dir"]])
    if idle_watch:
        w = idle_watch()
    result = watched(w)
    row = {"receiver": label, "instances": study["n"], "storescu_rc": res.returncode,
           "transfer_s": round(t1 - t0, 3),
           "instances_per_s": round(study["n"] / (t1 - t0), 1) if res.returncode == 0 else None,
           "counted": result["count"], "complete": result["complete"],
           "filed_after_release_s": round(max(0.0, result["done_at"] - t1), 3)}
    if res.returncode != 0:
        row["storescu_error"] = (res.stdout + res.stderr)[-500:]
    log("%s: %s" % (label, json.dumps(row)))
    return row


# --- Receivers ---------------------------------------------------------------------------------

def setup_bare_and_pypx(gw):
    """(a) and (d) run in the gateway container, next to (b), from the same dcmtk and venv."""
    dexec(gw, "mkdir -p /bench/a /bench/d/tmp /bench/d/data /bench/d/log /bench/dshim/tmp /bench/dshim/data "
              "/bench/dshim/log /bench/shim && chmod -R 777 /bench")
    run(["docker", "cp", os.path.join(HERE, "watch.py"), gw + ":/bench/watch.py"])
    # At most 4 px-repack at once: storescp -xcr starts one Python per received file without
    # waiting, which for 1000 files means about 70 GB of memory; the slots bound it.
    dexec(gw, "printf '%s\\n' '#!/bin/sh' 'exec flock /bench/slot.$(( $$ % 4 )) \"$@\"' > /bench/bounded.sh; "
              "chmod 755 /bench/bounded.sh")
    # The documented shim: px-repack calls pydicom.read_file, which pydicom 3 removed.
    dexec(gw, "printf '%s\\n' 'import pydicom' 'if not hasattr(pydicom, \"read_file\"):' "
              "'    pydicom.read_file = pydicom.dcmread' > /bench/shim/sitecustomize.py")
    dexec(gw, "storescp --aetitle BARE -od /bench/a -pm %d" % PORT_A, env={"TCP_NODELAY": "1"}, detach=True)
    for port, root, extra in ((PORT_D, "/bench/d", {}), (PORT_D_SHIM, "/bench/dshim", {"PYTHONPATH": "/bench/shim"})):
        cmd = ("/bench/bounded.sh /opt/pypx/bin/px-repack --xcrdir #p --xcrfile #f --verbosity 0 "
               "--logdir %s/log --datadir %s/data --cleanup" % (root, root))
        dexec(gw, "cd %s && exec storescp --aetitle PYPX -od %s/tmp -pm -sp -xcr '%s' %d"
              % (root, root, cmd, port), env=dict({"TCP_NODELAY": "1"}, **extra), detach=True)


def setup_orthanc(name):
    run(["docker", "run", "-d", "--name", name, "--hostname", name, os.environ["PACSGATE_IMAGE"], "sleep", "infinity"])
    dexec(name, "printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && "
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
                "orthanc >/dev/null")
    config = {"Name": "bench", "StorageDirectory": "/var/lib/orthanc-bench", "IndexDirectory": "/var/lib/orthanc-bench",
              "DicomAet": "ORTHANC", "DicomPort": PORT_C, "HttpPort": 8042, "RemoteAccessAllowed": False,
              "DicomCheckCalledAet": False, "Plugins": [], "StorageCompression": False}
    dexec(name, "mkdir -p /etc/orthanc-bench /bench && cat > /etc/orthanc-bench/orthanc.json <<'EOF'\n%s\nEOF"
          % json.dumps(config, indent=1))
    run(["docker", "cp", os.path.join(HERE, "watch.py"), name + ":/bench/watch.py"])
    dexec(name, "Orthanc /etc/orthanc-bench/ > /var/log/orthanc-bench.log 2>&1", env={"TCP_NODELAY": "1"},
          detach=True)
    version = dexec(name, "dpkg-query -W -f '${Version}' orthanc").stdout.strip()
    return version


def wait_echo(ip, port, aec, seconds=60):
    for _attempt in range(seconds * 2):
        if run(["/usr/bin/echoscu", "-aec", aec, ip, str(port)], check=False).returncode == 0:
            return True
        time.sleep(0.5)
    raise RuntimeError("no C-ECHO answer from %s:%s" % (ip, port))


# --- The measurements -----------------------------------------------------------------------

def per_association(ip, port, aec, study):
    times = []
    for path in study["files"]:
        res, t0, t1 = storescu(ip, port, aec, [path], timeout=120)
        times.append((t1 - t0) if res.returncode == 0 else None)
    ok = [t for t in times if t is not None]
    return {"associations": len(times), "succeeded": len(ok), "median_s": round(statistics.median(ok), 3) if ok else None,
            "min_s": round(min(ok), 3) if ok else None, "max_s": round(max(ok), 3) if ok else None}


class MemorySampler:
    """Peak memory of the listener during a burst: every 0.2 s, inside the gateway, the number of
    processes of the listener user and the sum of their resident set sizes (ps, in KiB)."""

    LOOP = "while :; do ps -u dicom -o rss= | awk '{n++; s+=$1} END {print n+0, s+0}'; sleep 0.2; done"

    def __init__(self, container):
        self.proc = subprocess.Popen(["docker", "exec", container, "sh", "-c", self.LOOP],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def stop(self):
        self.proc.terminate()
        out = self.proc.communicate(timeout=30)[0]
        samples = [tuple(int(x) for x in line.split()) for line in out.splitlines() if len(line.split()) == 2]
        peak = max(samples, key=lambda s: s[1], default=(0, 0))
        procs = max((s[0] for s in samples), default=0)
        return {"samples": len(samples), "peak_rss_mib": round(peak[1] / 1024, 1), "processes_at_peak": peak[0],
                "max_processes": procs,
                "rss_mib_per_process_at_peak": round(peak[1] / 1024 / peak[0], 1) if peak[0] else None}


def burst(ip, port, aec, study, container=None):
    env = dict(os.environ, TCP_NODELAY="1")
    memory = MemorySampler(container) if container else None
    time.sleep(0.5 if memory else 0)
    t0 = time.time()
    procs = [subprocess.Popen([STORESCU, "-aet", SENDER_AET, "-aec", aec, ip, str(port), path],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
             for path in study["files"]]
    errors = []
    rcs = []
    for proc in procs:
        err = proc.communicate(timeout=600)[1]
        rcs.append(proc.returncode)
        if proc.returncode != 0:
            errors.append(err.strip().splitlines()[-1] if err.strip() else "rc %d" % proc.returncode)
    wall = time.time() - t0
    accepted = rcs.count(0)
    result = {"associations": len(procs), "accepted": accepted, "refused": len(procs) - accepted,
              "wall_s": round(wall, 2), "errors": sorted(set(errors))[:5]}
    if memory:
        result["memory"] = memory.stop()
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--pypx-instances", type=int, default=100,
                        help="instances sent to pypx's per-file mode (d), which starts a Python per file")
    parser.add_argument("--fleet", type=int, default=8)
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "bench"))
    parser.add_argument("--keep", action="store_true", help="keep the containers")
    parser.add_argument("--skip-fleet", action="store_true")
    opts = parser.parse_args()

    remove_containers()
    sampler = LoadSampler()
    sampler.start()
    work = tempfile.mkdtemp(prefix="pacsgate-bench-")
    results = {"started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": machine(), "sections": {}}
    t_start = time.time()
    failed = True
    try:
        inv = os.path.join(work, "one.yml")
        write_inventory(inv, [GW])
        log("starting %s and converging it with the role (first converge)" % GW)
        start_gateway(GW)
        t0 = time.time()
        first = converge(inv, logfile=os.path.join(work, "converge-1.log"))
        second = converge(inv, logfile=os.path.join(work, "converge-2.log"))
        results["sections"]["ansible"] = {"first_converge": first, "second_converge": second,
                                          "load": sampler.summary(t0, time.time())}
        log("converges: %s, %s" % (first["wall_s"], second["wall_s"]))

        log("installing Orthanc in %s" % ORTHANC)
        orthanc_version = setup_orthanc(ORTHANC)
        setup_bare_and_pypx(GW)
        gw_ip, orthanc_ip = container_ip(GW), container_ip(ORTHANC)
        wait_echo(gw_ip, PORT_A, "BARE")
        wait_echo(gw_ip, PORT_B, GW_AET)
        wait_echo(orthanc_ip, PORT_C, "ORTHANC")
        results["versions"] = {
            "orthanc": orthanc_version,
            "pypx": dexec(GW, "/opt/pypx/bin/pip show pypx | sed -n 's/^Version: //p'").stdout.strip(),
            "pydicom_gateway": dexec(GW, "/opt/pypx/bin/pip show pydicom | sed -n 's/^Version: //p'").stdout.strip(),
            "dcmtk_gateway": dexec(GW, "dpkg-query -W -f '${Version}' dcmtk").stdout.strip(),
        }

        log("throughput: %d instances in one association per receiver" % opts.instances)
        t0 = time.time()
        rows = []
        # Filled in as rows are measured, so that an interrupted run keeps what it measured.
        results["sections"]["throughput"] = {"rows": rows}
        s = new_study(work, "a", opts.instances)
        rows.append(throughput("a", gw_ip, PORT_A, "BARE", s,
                               lambda: watcher(GW, "files", "/bench/a", s["n"], timeout=300)))
        s_b = new_study(work, "b", opts.instances)
        rows.append(throughput("b", gw_ip, PORT_B, GW_AET, s_b,
                               lambda: watcher(GW, "gateway", "/home/dicom/data", s_b["study_uid"], s_b["n"], 2,
                                               timeout=300)))
        s_c = new_study(work, "c", opts.instances)
        rows.append(throughput("c", orthanc_ip, PORT_C, "ORTHANC", s_c,
                               lambda: watcher(ORTHANC, "orthanc", "http://127.0.0.1:8042", s_c["n"], timeout=300)))
        for label, port, root in (("d", PORT_D, "/bench/d"), ("d+shim", PORT_D_SHIM, "/bench/dshim")):
            s_d = new_study(work, label.replace("+", "_"), opts.pypx_instances)
            rows.append(throughput(label, gw_ip, port, "PYPX", s_d, None,
                                   idle_watch=lambda s_d=s_d, root=root: watcher(
                                       GW, "dcm", root + "/data", s_d["n"], timeout=1800, idle="px-repack")))
            rows[-1]["left_in_tmp"] = int(dexec(GW, "find %s/tmp -type f | wc -l" % root).stdout.strip())
            rows[-1]["error_lines"] = int(dexec(GW, "cat %s/log/* 2>/dev/null | grep -ci 'error\\|traceback' || true"
                                                % root).stdout.strip() or 0)
        a = rows[0]
        for row in rows:
            row["rate_ratio_to_a"] = (round(row["instances_per_s"] / a["instances_per_s"], 3)
                                      if row["instances_per_s"] and a["instances_per_s"] else None)
        results["sections"]["throughput"]["load"] = sampler.summary(t0, time.time())

        log("per-association cost: 20 sequential single-instance associations, (a) and (b)")
        t0 = time.time()
        s_pa = new_study(work, "pa_a", 20, series=1)
        pa_a = per_association(gw_ip, PORT_A, "BARE", s_pa)
        s_pb = new_study(work, "pa_b", 20, series=1)
        pa_b = per_association(gw_ip, PORT_B, GW_AET, s_pb)
        w = watcher(GW, "gateway", "/home/dicom/data", s_pb["study_uid"], s_pb["n"], 1, timeout=120)
        pa_b["filed"] = watched(w)["count"]
        results["sections"]["per_association"] = {"a": pa_a, "b": pa_b, "load": sampler.summary(t0, time.time())}
        log("per association: %s / %s" % (pa_a, pa_b))

        log("burst: 100 single-instance associations at once against (b)")
        t0 = time.time()
        s_burst = new_study(work, "burst", 100, series=1)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 1))
        br = burst(gw_ip, PORT_B, GW_AET, s_burst, container=GW)
        # Why associations were refused: xinetd logs FAIL lines (service_limit: instances reached).
        fails = dexec(GW, "journalctl -u xinetd --no-pager --since '%s' | grep -o 'FAIL: [^ ]* [^ ]*' | sort | uniq -c"
                      % since, check=False).stdout.split("\n")
        br["xinetd_fail_lines"] = [f.strip() for f in fails if f.strip()]
        br["xinetd_instances"] = dexec(GW, "sed -n 's/^ *instances *= *//p' /etc/xinetd.d/dicomlistener").stdout.strip()
        w = watcher(GW, "gateway", "/home/dicom/data", s_burst["study_uid"], br["accepted"],
                    1 if br["accepted"] else 0, timeout=300)
        br["filed"] = watched(w)["count"]
        results["sections"]["burst"] = dict(br, load=sampler.summary(t0, time.time()))
        log("burst: %s" % br)
        if not opts.keep:
            remove_containers([ORTHANC])

        if not opts.skip_fleet:
            names = ["%sfleet-%d" % (PREFIX, i) for i in range(1, opts.fleet + 1)]
            log("fleet: %d fresh gateways converged with forks %d" % (len(names), len(names)))
            for name in names:
                start_gateway(name)
            inv8 = os.path.join(work, "fleet.yml")
            write_inventory(inv8, names)
            t0 = time.time()
            fleet = converge(inv8, forks=len(names), logfile=os.path.join(work, "converge-fleet.log"))
            fleet["hosts"] = len(names)
            fleet["ratio_to_one"] = round(fleet["wall_s"] / first["wall_s"], 2)
            fleet["load"] = sampler.summary(t0, time.time())
            results["sections"]["fleet"] = fleet
            log("fleet: %s s, ratio %s" % (fleet["wall_s"], fleet["ratio_to_one"]))
            if not opts.keep:
                remove_containers(names)
        failed = False
    finally:
        sampler.stop.set()
        results["wall_s"] = round(time.time() - t_start)
        results["load"] = sampler.summary()
        if not opts.keep:
            remove_containers()
        os.makedirs(opts.out, exist_ok=True)
        with open(os.path.join(opts.out, "results.json"), "w") as handle:
            json.dump(results, handle, indent=1)
        if failed:
            log("failed; the converge logs are in %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    import report  # noqa: E402  (matplotlib only once the measurements are done)
    report.write(results, opts.out, REPO)
    return 0


if __name__ == "__main__":
    sys.exit(main())
