"""Runs inside a benchmark container: wait until a receiver has stored or filed N instances, then
check them byte for byte.

Prints one JSON line: {"count": n, "done_at": <time.time() when n was reached or the wait ended>,
"complete": bool, "identical": n, "checked": n}. The container shares the host's clock, so done_at
is comparable with the time the sender saw the association released.

  watch.py files DIR N               regular files under DIR (bare storescp)
  watch.py gateway DATA STUDY N S    *.dcm files of STUDY under DATA and S series.info files
  watch.py records TMP SINCE         the filer's records of associations received since SINCE (a
                                     time): counts, seconds from association end to filed
  watch.py orthanc URL N [STORAGE]   CountInstances of Orthanc's /statistics (the files under
                                     its STORAGE dir checked byte for byte)
Options: --timeout S (default 600), --interval S (default 0.05), --digests FILE (a JSON list of
the sha256 of every sent data set: once the wait ends, "identical" counts the files found whose
data set, the bytes after the file meta information, is one of them; "checked" counts the files
read).
"""

import argparse
import hashlib
import json
import os
import struct
import sys
import time
import urllib.request


def dataset_digest(data):
    """sha256 of a DICOM file's data set, the bytes after its file meta information (storescp
    --bit-preserving writes them as received behind a file meta group of its own); None for what
    is not a DICOM file with a group length first."""
    if data[128:132] != b"DICM" or data[132:138] != b"\x02\x00\x00\x00UL":
        return None
    (length,) = struct.unpack("<I", data[140:144])
    return hashlib.sha256(data[144 + length:]).hexdigest()


def files_under(root, suffix=""):
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(suffix) and not name.startswith("."):
                yield os.path.join(dirpath, name)


def study_dirs(data, study):
    """The series dirs of STUDY in DATA/<patient>/<study>/<series>/ (pypx names the study dir
    after the study UID, among other things)."""
    data = data.rstrip("/")
    for patient in os.scandir(data):
        if not patient.is_dir(follow_symlinks=False):
            continue
        for entry in os.scandir(patient.path):
            if entry.is_dir(follow_symlinks=False) and study in entry.name:
                yield entry.path


def count_filed(data, study):
    """(*.dcm files, series.info files) of STUDY; walks only the study's own directories."""
    dcm = infos = 0
    for path in study_dirs(data, study):
        for dirpath, _dirs, files in os.walk(path):
            dcm += sum(1 for f in files if f.endswith(".dcm") and not f.startswith("."))
            infos += 1 if "series.info" in files else 0
    return dcm, infos


def count_orthanc(url):
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/statistics", timeout=5) as res:
            return int(json.load(res)["CountInstances"])
    except OSError:
        return -1


def identical(paths, digests):
    """(files read, files whose data set digest is among digests, each digest counted once)."""
    wanted, seen, checked = set(digests), set(), 0
    for path in paths:
        try:
            with open(path, "rb") as handle:
                digest = dataset_digest(handle.read())
        except OSError:
            continue
        checked += 1
        if digest in wanted:
            seen.add(digest)
    return checked, len(seen)


def records_since(tmp, since):
    """Summary of the filer's records (tmp/filed/<id>/.pacsgate-record.json) of associations
    received since `since`: associations, instances filed, and the seconds from each
    association's end to its filing (median, max) and its duration (median)."""
    latency, duration, instances = [], [], 0
    filed = os.path.join(tmp, "filed")
    for entry in os.scandir(filed):
        try:
            with open(os.path.join(entry.path, ".pacsgate-record.json")) as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            continue
        if record.get("received_at", 0) < since or record.get("calling") == "PACSGATE-CHECK":
            continue
        instances += record.get("filed", 0)
        if record.get("ended_at") and record.get("filed_at"):
            latency.append(record["filed_at"] - record["ended_at"])
            duration.append(record["ended_at"] - record["received_at"])
    latency.sort()
    duration.sort()
    return {"associations": len(latency), "instances": instances,
            "filing_s_median": round(latency[len(latency) // 2], 3) if latency else None,
            "filing_s_max": round(latency[-1], 3) if latency else None,
            "association_s_median": round(duration[len(duration) // 2], 3) if duration else None}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["files", "gateway", "orthanc", "records"])
    parser.add_argument("args", nargs="+")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--digests")
    opts = parser.parse_args()
    if opts.mode == "records":
        print(json.dumps(records_since(opts.args[0], float(opts.args[1]))))
        return 0
    deadline = time.time() + opts.timeout
    while True:
        if opts.mode == "files":
            count = sum(1 for _p in files_under(opts.args[0]))
            done = count >= int(opts.args[1])
        elif opts.mode == "gateway":
            count, infos = count_filed(opts.args[0], opts.args[1])
            done = count >= int(opts.args[2]) and infos >= int(opts.args[3])
        else:
            count = count_orthanc(opts.args[0])
            done = count >= int(opts.args[1])
        now = time.time()
        if done or now > deadline:
            break
        time.sleep(opts.interval)
    result = {"count": count, "done_at": now, "complete": done}
    if opts.digests and (opts.mode != "orthanc" or len(opts.args) > 2):
        with open(opts.digests) as handle:
            digests = json.load(handle)
        if opts.mode == "files":
            paths = files_under(opts.args[0])
        elif opts.mode == "orthanc":
            paths = files_under(opts.args[2])
        else:
            paths = (p for d in study_dirs(opts.args[0], opts.args[1]) for p in files_under(d, ".dcm"))
        result["checked"], result["identical"] = identical(paths, digests)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
