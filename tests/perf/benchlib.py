"""Helpers of the benchmark (tests/perf/bench.py): Docker, Ansible, sending and counting, load."""

import datetime
import json
import os
import platform
import re
import statistics
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "molecule"))
import dicomstudy  # noqa: E402  pylint: disable=wrong-import-position
from watch import dataset_digest  # noqa: E402  pylint: disable=wrong-import-position

PREFIX = "pacsgate-perf-bench-"
SENDER_AET = "BENCH"
STORESCU = "/usr/bin/storescu"
DOCKER_SYSTEMD = ["--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined", "--cgroupns=host",
                  "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock"]
# Copied into every container under /bench.
CONTAINER_SCRIPTS = ("watch.py", "memory.py", "synth.py")


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def run(argv, check=True, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    res = subprocess.run(argv, check=False, **kwargs)
    if check and res.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s" % (" ".join(argv), res.returncode, res.stdout[-2000:],
                                                     res.stderr[-2000:]))
    return res


def dexec(container, script, check=True, env=None, detach=False, user=None):
    argv = ["docker", "exec"] + (["-d"] if detach else []) + (["-u", user] if user else [])
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
    names = our_containers() if names is None else [n for n in names if n.startswith(PREFIX)]
    if names:
        run(["docker", "rm", "-f"] + names, check=False)


def copy_scripts(container):
    dexec(container, "mkdir -p /bench && chmod 755 /bench")
    for name in CONTAINER_SCRIPTS:
        run(["docker", "cp", os.path.join(HERE, name), "%s:/bench/%s" % (container, name)])


def start_gateway(name):
    run(["docker", "run", "-d", "--name", name, "--hostname", name] + DOCKER_SYSTEMD
        + ["-v", "%s:/root/.cache/pip:rw" % os.environ["PACSGATE_PIP_CACHE"], os.environ["PACSGATE_IMAGE"],
           "/lib/systemd/systemd"])
    for _attempt in range(60):
        state = dexec(name, "systemctl is-system-running 2>/dev/null || true", check=False).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(1)


def cpu_pressure():
    """/proc/pressure/cpu's "some avg10" (percent of time some task waited for a CPU), or None."""
    try:
        with open("/proc/pressure/cpu") as handle:
            match = re.search(r"^some avg10=([\d.]+)", handle.read(), re.M)
        return float(match.group(1)) if match else None
    except OSError:
        return None


class LoadSampler(threading.Thread):
    """Every 5 s: the 1-min load, CPU pressure and how many other containers run. These machines
    are throttled after minutes of load: the load can be high while the CPUs look idle."""

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
            self.samples.append({"t": time.time(), "load1": load1, "cpu_some_avg10": cpu_pressure(),
                                 "other_containers": len(others)})
            self.stop.wait(5)

    def summary(self, t0=None, t1=None):
        return load_summary(self.samples, t0, t1)


def load_summary(samples, t0=None, t1=None):
    sel = [s for s in samples if (t0 is None or s["t"] >= t0 - 5) and (t1 is None or s["t"] <= t1 + 5)]
    if not sel:
        return None
    loads = [s["load1"] for s in sel]
    out = {"min": min(loads), "mean": round(statistics.mean(loads), 2), "max": max(loads),
           "other_containers_max": max(s["other_containers"] for s in sel)}
    pressure = [s["cpu_some_avg10"] for s in sel if s.get("cpu_some_avg10") is not None]
    if pressure:
        out["cpu_pressure_mean"] = round(statistics.mean(pressure), 1)
        out["cpu_pressure_max"] = max(pressure)
    return out


def machine():
    info = {"kernel": platform.release(), "cores": os.cpu_count(), "python": platform.python_version()}
    with open("/proc/cpuinfo") as handle:
        models = re.findall(r"^model name\s*:\s*(.*)$", handle.read(), re.M)
    info["cpu"] = models[0] if models else platform.processor()
    with open("/proc/meminfo") as handle:
        kb = int(re.search(r"MemTotal:\s+(\d+)", handle.read()).group(1))
    info["ram_gib"] = round(kb / 1024 / 1024, 1)
    info["docker"] = run(["docker", "version", "-f", "{{.Server.Version}}"], check=False).stdout.strip()
    return info


# --- Ansible --------------------------------------------------------------------------------

def write_inventory(path, hosts, extra=None):
    pacs_host = os.environ["PACSGATE_DOCKER_HOST_IP"]
    lines = ["pacs_gateways:", "  hosts:"]
    for host in hosts:
        lines += ["    %s:" % host, "      ansible_connection: community.docker.docker"]
    lines += ["  vars:",
              "    dicom_listener_pip_ca_bundle: %s" % json.dumps(os.environ.get("PACSGATE_PIP_CA_BUNDLE", "")),
              "    dicom_listener_pacs:",
              "      - {name: bench, aetitle: %s, host: %s, port: 104}" % (SENDER_AET, pacs_host)]
    for key, value in (extra or {}).items():
        lines.append("    %s: %s" % (key, json.dumps(value)))
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")


RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)
TASK_TIME = re.compile(r"^(.+?) -+ (\d+\.\d+)s$", re.M)


def parse_playbook_output(text):
    """The recap per host and every task's time (ansible.posix.profile_tasks), slowest first."""
    recap = {m.group(1): {"ok": int(m.group(2)), "changed": int(m.group(3)), "unreachable": int(m.group(4)),
                          "failed": int(m.group(5)), "skipped": int(m.group(6))} for m in RECAP.finditer(text)}
    tail = text.split("PLAY RECAP", 1)[-1]
    tasks = [{"task": t.strip(), "s": float(s)} for t, s in TASK_TIME.findall(tail)]
    tasks.sort(key=lambda t: -t["s"])
    return recap, tasks


def playbook(inventory, name, logfile=None, forks=5, extra_env=None, args=()):
    t0 = time.monotonic()
    # Pipelining, as the Molecule scenarios use it; profile_tasks times every task.
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_PIPELINING="1",
               ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks", PROFILE_TASKS_TASK_OUTPUT_LIMIT="all")
    env.update(extra_env or {})
    res = run(["ansible-playbook", "-i", inventory, "-f", str(forks), os.path.join(REPO, "playbooks", name)]
              + list(args), check=False, env=env)
    wall = time.monotonic() - t0
    if logfile:
        with open(logfile, "w") as handle:
            handle.write(res.stdout + res.stderr)
    if res.returncode != 0:
        raise RuntimeError("ansible-playbook %s failed (see %s): %s" % (name, logfile, res.stdout[-3000:]))
    recap, tasks = parse_playbook_output(res.stdout)
    return {"wall_s": round(wall, 1), "recap": recap, "tasks": tasks}


# --- Studies, sending and counting ---------------------------------------------------------------

def new_study(workdir, name, n, series=1):
    """n CT instances with fresh UIDs in `series` series (n // series each), and the sha256 of each
    file's data set (what the receiver must keep byte for byte)."""
    out = os.path.join(workdir, name)
    per = n // series
    manifest = dicomstudy.make_study(out, series=series, per_series=per, description="BENCH " + name.upper())
    files = sorted(os.path.join(out, f) for f in os.listdir(out))
    digests = []
    for path in files:
        with open(path, "rb") as handle:
            data = without_trailing_padding(handle.read())
        with open(path, "wb") as handle:
            handle.write(data)
        digests.append(dataset_digest(data))
    manifest.update({"dir": out, "n": per * series, "files": files, "digests": digests, "name": name,
                     "series_count": series})
    return manifest


TRAILING_PADDING = b"\xfc\xff\xfc\xffOB\x00\x00"


def without_trailing_padding(data):
    """The file without a final (FFFC,FFFC) Data Set Trailing Padding element (explicit VR little
    endian), which pydicom's CT sample ends with and dcmtk's storescu does not send: the data set
    a receiver gets is then the file's, byte for byte."""
    at = data.rfind(TRAILING_PADDING)
    if at < 0 or len(data) < at + 12:
        return data
    (length,) = struct.unpack("<I", data[at + 8:at + 12])
    return data[:at] if at + 12 + length == len(data) else data


def push_digests(container, study):
    path = os.path.join(os.path.dirname(study["dir"]), study["name"] + ".digests.json")
    with open(path, "w") as handle:
        json.dump(study["digests"], handle)
    run(["docker", "cp", path, "%s:/bench/%s.digests.json" % (container, study["name"])])
    return "/bench/%s.digests.json" % study["name"]


def storescu(ip, port, aec, paths, timeout=900):
    """dcmtk's storescu with TCP_NODELAY=1; returns (result, start, end)."""
    env = dict(os.environ, TCP_NODELAY="1")
    t0 = time.time()
    try:
        res = subprocess.run([STORESCU, "-aet", SENDER_AET, "-aec", aec, "+sd", ip, str(port)] + list(paths),
                             capture_output=True, text=True, env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        res = subprocess.CompletedProcess(exc.cmd, -9, "", "timed out")
    return res, t0, time.time()


class Watcher:
    """watch.py in a container, started before a transfer; result() waits for its JSON line."""

    def __init__(self, container, mode, *args, timeout=600, digests=None):
        argv = ["docker", "exec", container, "python3", "/bench/watch.py", mode] + [str(a) for a in args] + [
            "--timeout", str(timeout)]
        if digests:
            argv += ["--digests", digests]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result(self):
        out, err = self.proc.communicate()
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise RuntimeError("watcher failed: %s %s" % (out, err))


class MemorySampler:
    """memory.py in a container: samples until stop() (a line on its stdin)."""

    def __init__(self, container, interval=0.2):
        self.proc = subprocess.Popen(["docker", "exec", "-i", container, "python3", "/bench/memory.py", "sample",
                                      "--interval", str(interval)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stop(self):
        out, err = self.proc.communicate("stop\n", timeout=120)
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise RuntimeError("memory sampler failed: %s %s" % (out, err))


class CpuHogs:
    """Two CPU-bound processes on the machine (busy loops in Python), ended by their own ids."""

    def __init__(self, count=2):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _i in range(count)]

    def stop(self):
        for proc in self.procs:
            proc.kill()
            proc.wait()


def send_each(ip, port, aec, paths, senders=1, timeout=120):
    """One association per file from `senders` parallel senders; returns (start, end, [(rc, seconds)])."""
    queue = list(paths)
    lock = threading.Lock()
    results = []

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                path = queue.pop(0)
            res, t0, t1 = storescu(ip, port, aec, [path], timeout=timeout)
            with lock:
                results.append((res.returncode, t1 - t0))

    t0 = time.time()
    threads = [threading.Thread(target=worker) for _i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return t0, time.time(), results


def burst_send(ip, port, aec, paths, timeout=600):
    """Every file in its own association, all started at once; returns (start, end, [rc], errors)."""
    env = dict(os.environ, TCP_NODELAY="1")
    t0 = time.time()
    procs = [subprocess.Popen([STORESCU, "-aet", SENDER_AET, "-aec", aec, ip, str(port), path],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
             for path in paths]
    rcs, errors = [], []
    for proc in procs:
        try:
            err = proc.communicate(timeout=max(1, timeout - (time.time() - t0)))[1]
        except subprocess.TimeoutExpired:
            proc.kill()
            err = proc.communicate()[1] + " (killed after %d s)" % timeout
        rcs.append(proc.returncode)
        if proc.returncode != 0:
            errors.append(err.strip().splitlines()[-1] if err.strip() else "rc %d" % proc.returncode)
    return t0, time.time(), rcs, sorted(set(errors))[:5]


def wait_echo(ip, port, aec, seconds=60):
    for _attempt in range(seconds * 2):
        if run(["/usr/bin/echoscu", "-aet", SENDER_AET, "-aec", aec, ip, str(port)], check=False).returncode == 0:
            return True
        time.sleep(0.5)
    raise RuntimeError("no C-ECHO answer from %s:%s" % (ip, port))
