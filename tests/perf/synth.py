"""Runs inside the benchmark's gateway container, as the listener: a synthetic archive for the
health scan (standard library only).

    synth.py DATA TMP LOG [--patients 1000 --studies 2 --series 5 --instances 100]
             [--filed 5000 --queued 40 --incoming 10 --quarantined 20]

Writes DATA/<patient>/<study>/<series>/NNNNN-<SOPInstanceUID>.dcm (small files: a preamble and
"DICM", not real data sets) with pypx's patient.info, study.info and series.info, pypx's map
files under LOG, and a tmp tree as the filer leaves it: TMP/filed/<id>/ with .association, .lock
and a record listing its files, TMP/queue/<id>/ and TMP/incoming/<id>/ with received files,
TMP/quarantine/<id>/ with a file and its reason. Prints one JSON line with the counts and seconds.
"""

import argparse
import hashlib
import json
import os
import sys
import time

ROOT_UID = "1.2.826.0.1.3680043.8.498.9"
SMALL = b"\0" * 128 + b"DICM" + b"\2\0\0\0UL\4\0" + b"\0" * 52


def uid(*parts):
    return ROOT_UID + "." + ".".join(str(p) for p in parts)


def write(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def archive(data, log, opts):
    files = 0
    for name in ("patient_map", "study_map", "series_map"):
        os.makedirs(os.path.join(log, name), exist_ok=True)
    for p in range(opts.patients):
        patient_id = "SYN%07d" % p
        pdir = os.path.join(data, "%s-SYNTHETIC.PATIENT" % patient_id)
        os.mkdir(pdir)
        write(os.path.join(pdir, "patient.info"), b"[PATIENT]\nPatientID = %s\n" % patient_id.encode())
        write(os.path.join(log, "patient_map", patient_id + ".json"), b"{}")
        files += 2
        for s in range(opts.studies):
            study = uid(p, s)
            sdir = os.path.join(pdir, "SYNTHETIC.STUDY-20261129-%s" % study)
            os.mkdir(sdir)
            write(os.path.join(sdir, "study.info"), b"[STUDY]\n")
            write(os.path.join(log, "study_map", study + ".json"), b"{}")
            files += 2
            for r in range(opts.series):
                series = uid(p, s, r)
                rdir = os.path.join(sdir, "SERIES.%d-20261129-%s" % (r + 1, series))
                os.mkdir(rdir)
                for i in range(opts.instances):
                    write(os.path.join(rdir, "%05d-%s.dcm" % (i + 1, uid(p, s, r, i))), SMALL)
                write(os.path.join(rdir, "series.info"), b"[SERIES]\n")
                write(os.path.join(log, "series_map", series + ".json"), b"{}")
                files += opts.instances + 2
    return files


def association_id(n, now):
    return "%s-%d-%s" % (time.strftime("%Y%m%dT%H%M%S", time.gmtime(now - n)), 100000 + n, os.urandom(4).hex())


def association_dir(path, n, now, received=0):
    os.mkdir(path, 0o750)
    write(os.path.join(path, ".association"),
          ("calling=SYNTH\ncalled=CHRISLOCAL\npeer=192.0.2.1\nstarted=%.3f\npid=%d\n" % (now - n, n)).encode())
    write(os.path.join(path, ".lock"), b"")
    for i in range(received):
        write(os.path.join(path, "CT.%s" % uid(9, n, i)), SMALL)


def tmp_tree(tmp, opts):
    now = time.time()
    for name in ("incoming", "queue", "filed", "quarantine"):
        os.makedirs(os.path.join(tmp, name), mode=0o750, exist_ok=True)
    n = 0
    per = max(1, (opts.patients * opts.studies * opts.series * opts.instances) // max(1, opts.filed))
    for k in range(opts.filed):
        n += 1
        path = os.path.join(tmp, "filed", association_id(n, now))
        association_dir(path, n, now)
        files = [{"name": "CT." + uid(k, i), "size": len(SMALL), "sha256": hashlib.sha256(b"%d.%d" % (k, i)).hexdigest(),
                  "filed_as": "SYN/SYNTHETIC.STUDY/SERIES/%05d-%s.dcm" % (i + 1, uid(k, i))} for i in range(per)]
        record = {"version": 1, "association": os.path.basename(path), "receiver": "filer", "calling": "SYNTH",
                  "called": "CHRISLOCAL", "peer": "192.0.2.1", "received_at": now - n, "filed_at": now - n + 1,
                  "instances": per, "filed": per, "quarantined": 0, "replaced": 0, "bytes": per * len(SMALL),
                  "files": files, "quarantine": []}
        write(os.path.join(path, ".pacsgate-record.json"), json.dumps(record).encode())
    for k in range(opts.queued):
        n += 1
        association_dir(os.path.join(tmp, "queue", association_id(n, now)), n, now, received=20)
    for k in range(opts.incoming):
        n += 1
        association_dir(os.path.join(tmp, "incoming", association_id(n, now)), n, now, received=5)
    for k in range(opts.quarantined):
        n += 1
        path = os.path.join(tmp, "quarantine", association_id(n, now))
        os.mkdir(path, 0o750)
        write(os.path.join(path, "CT.%s" % uid(8, k)), SMALL)
        write(os.path.join(path, "CT.%s.reason.json" % uid(8, k)),
              json.dumps({"reason": "unreadable: InvalidDicomError", "class": "unreadable", "at": now}).encode())
    return {"filed_dirs": opts.filed, "queued_dirs": opts.queued, "incoming_dirs": opts.incoming,
            "quarantine_dirs": opts.quarantined, "record_files_each": per}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("tmp")
    parser.add_argument("log")
    for name, default in (("patients", 1000), ("studies", 2), ("series", 5), ("instances", 100), ("filed", 5000),
                          ("queued", 40), ("incoming", 10), ("quarantined", 20)):
        parser.add_argument("--" + name, type=int, default=default)
    opts = parser.parse_args()
    t0 = time.time()
    result = {"instances": opts.patients * opts.studies * opts.series * opts.instances}
    marker = os.path.join(opts.data, ".synthetic-%d-%d-%d-%d"
                          % (opts.patients, opts.studies, opts.series, opts.instances))
    if os.path.exists(marker):  # written by an earlier run into this container
        result["archive_files"] = None
    else:
        result["archive_files"] = archive(opts.data, opts.log, opts)
        write(marker, b"")
    result["archive_s"] = round(time.time() - t0, 1)
    t1 = time.time()
    result.update(tmp_tree(opts.tmp, opts))
    result["tmp_s"] = round(time.time() - t1, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
