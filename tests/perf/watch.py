"""Runs inside a benchmark container: wait until a receiver has stored or filed N instances.

Prints one JSON line: {"count": n, "done_at": <time.time() when n was reached or the wait
ended>, "complete": bool}. The container shares the host's clock, so done_at is comparable with
the time the sender saw the association released.

  watch.py files DIR N               regular files under DIR (bare storescp)
  watch.py dcm DIR N                 *.dcm files under DIR (px-repack's own layout)
  watch.py gateway DATA STUDY N S    *.dcm files of STUDY under DATA and S series.info files
  watch.py orthanc URL N             CountInstances of Orthanc's /statistics
Options: --timeout S (default 600), --idle NAME (also stop once no process has run program NAME
for 3 s), --interval S (default 0.1).
"""

import argparse
import json
import os
import sys
import time
import urllib.request


def count_files(root, suffix=""):
    n = 0
    for _dirpath, _dirs, files in os.walk(root):
        n += sum(1 for f in files if f.endswith(suffix))
    return n


def count_filed(data, study, series):
    """*.dcm files and series.info files of STUDY in DATA/<patient>/<study>/<series>/; walks only
    the study's own directories, so that watching costs the receiver little CPU."""
    dcm = infos = 0
    data = data.rstrip("/")
    for dirpath, dirs, files in os.walk(data):
        depth = dirpath[len(data):].count("/")
        if depth == 1:
            dirs[:] = [d for d in dirs if study in d]
        if study not in dirpath:
            continue
        dcm += sum(1 for f in files if f.endswith(".dcm"))
        infos += 1 if "series.info" in files else 0
    return dcm, infos >= series


def count_orthanc(url):
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/statistics", timeout=5) as res:
            return int(json.load(res)["CountInstances"])
    except OSError:
        return -1


def running(name):
    """Whether a process runs program NAME: NAME is the base name of one of its first three
    arguments (the program, or the script behind an interpreter or flock)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                argv = handle.read().split(b"\0")[:3]
        except OSError:
            continue
        if any(os.path.basename(arg.decode(errors="replace")) == name for arg in argv):
            return True
    return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["files", "dcm", "gateway", "orthanc"])
    parser.add_argument("args", nargs="+")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--idle")
    parser.add_argument("--interval", type=float, default=0.1)
    opts = parser.parse_args()
    deadline = time.time() + opts.timeout
    idle_since = None
    while True:
        if opts.mode in ("files", "dcm"):
            count = count_files(opts.args[0], ".dcm" if opts.mode == "dcm" else "")
            done = count >= int(opts.args[1])
        elif opts.mode == "gateway":
            count, infos = count_filed(opts.args[0], opts.args[1], int(opts.args[3]))
            done = count >= int(opts.args[2]) and infos
        else:
            count = count_orthanc(opts.args[0])
            done = count >= int(opts.args[1])
        now = time.time()
        if done:
            print(json.dumps({"count": count, "done_at": now, "complete": True}))
            return 0
        if opts.idle:
            if running(opts.idle):
                idle_since = None
            elif idle_since is None:
                idle_since = now
            elif now - idle_since >= 3:
                print(json.dumps({"count": count, "done_at": idle_since, "complete": False}))
                return 0
        if now > deadline:
            print(json.dumps({"count": count, "done_at": now, "complete": False}))
            return 0
        time.sleep(opts.interval)


if __name__ == "__main__":
    sys.exit(main())
