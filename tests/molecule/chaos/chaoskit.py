"""Tools of the chaos verifier (tests/molecule/chaos/): instances made to measure, what the gateway
holds for a study (per path, with digests), its association records, and a watcher on the gateway
that kills the filer with SIGKILL in the middle of filing an association."""

import json
import os
import subprocess
import threading

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from harness import account, name_of

UTF8 = "ISO_IR 192"


def write_instances(out_dir, count, prefix="i", study_uid=None, series_uid=None, sop_uids=None,
                    patient_id="PGCHAOS", patient_name="CHAOS^TEST", pixels=None, charset=None,
                    series_number=1):
    """Write `count` CT instances (from pydicom's CT_small.dcm) into out_dir; return their paths.

    `sop_uids`: reuse these SOP Instance UIDs (a resend); `pixels`: (rows, columns) of fresh random
    16-bit pixel data, to make instances of a given size; `charset`: Specific Character Set."""
    os.makedirs(out_dir, exist_ok=True)
    # One data set, read for this call and changed instance by instance (the same attributes each
    # time, so nothing of one instance stays in the next).
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    if charset:
        ds.SpecificCharacterSet = charset
    ds.PatientID = patient_id
    ds.PatientName = patient_name
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.StudyDescription = "CHAOS"
    ds.StudyDate = "20261201"
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.SeriesDescription = "SERIES %d" % series_number
    ds.SeriesNumber = series_number
    ds.SeriesDate = "20261201"
    paths = []
    for number in range(count):
        uid = sop_uids[number] if sop_uids else generate_uid()
        ds.InstanceNumber = number + 1
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        if pixels:
            ds.Rows, ds.Columns = pixels
            ds.PixelData = os.urandom(pixels[0] * pixels[1] * 2)
        path = os.path.join(out_dir, "%s%05d.dcm" % (prefix, number + 1))
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def resend_of(paths, out_dir, **changes):
    """Copies of paths with the same SOP Instance UIDs and some attributes changed (a corrected
    resend); returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    copies = []
    for path in paths:
        ds = pydicom.dcmread(path)
        for keyword, value in changes.items():
            setattr(ds, keyword, value)
        copy = os.path.join(out_dir, os.path.basename(path))
        ds.save_as(copy, enforce_file_format=True)
        copies.append(copy)
    return copies


# What the gateway holds --------------------------------------------------------------------------

# Run on the gateway (python3 -c SCRIPT tmp data study): prints JSON
#   {"filed": {uid: [[path relative to data, digest], ...]},   every instance filed for the study
#    "temps": n,                                             *.pacsgate-tmp anywhere in the data dir
#    "records": {id: {"instances", "filed", "replaced", "present", "quarantined", "study", "filed_at"}},
#    "received": {id: {uid: digest}},                        received copies kept in filed/<id> (study only)
#    "places": {"incoming": [...], "queue": [...], "quarantine": [...]}}
_GATEWAY = r"""
import hashlib, json, os, struct, sys
tmp, data, study = sys.argv[1], sys.argv[2], sys.argv[3]

def digest(path):
    with open(path, 'rb') as handle:
        raw = handle.read()
    if raw[128:132] != b'DICM':
        return 'not-dicom'
    (length,) = struct.unpack('<I', raw[140:144])
    return hashlib.sha256(raw[144 + length:]).hexdigest()

out = {'filed': {}, 'temps': 0, 'records': {}, 'received': {}, 'places': {}}
for root, dirs, files in os.walk(data):
    for name in files:
        if name.endswith('.pacsgate-tmp'):
            out['temps'] += 1
        elif name.endswith('.dcm') and study in root:
            path = os.path.join(root, name)
            out['filed'].setdefault(name[:-4].split('-', 1)[1], []).append([os.path.relpath(path, data), digest(path)])
filed = os.path.join(tmp, 'filed')
for ident in sorted(os.listdir(filed)) if os.path.isdir(filed) else []:
    try:
        with open(os.path.join(filed, ident, '.pacsgate-record.json')) as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        continue
    mine = any(study in (entry.get('filed_as') or '') for entry in record.get('files', []))
    keys = ('instances', 'filed', 'replaced', 'present', 'quarantined', 'filed_at')
    out['records'][ident] = dict((key, record.get(key)) for key in keys)
    out['records'][ident]['study'] = mine
    if mine:
        out['received'][ident] = dict(
            (name.split('.', 1)[1], digest(os.path.join(filed, ident, name)))
            for name in os.listdir(os.path.join(filed, ident)) if not name.startswith('.'))
for place in ('incoming', 'queue', 'quarantine'):
    path = os.path.join(tmp, place)
    out['places'][place] = sorted(os.listdir(path)) if os.path.isdir(path) else []
print(json.dumps(out))
"""


def gateway_state(host, gw, study_uid):
    res = host.run("python3 -c %s %s %s %s", _GATEWAY, gw["tmp_dir"], gw["data_dir"], study_uid)
    assert res.rc == 0, res.stderr
    return json.loads(res.stdout)


def study_records(state):
    """{id: record summary} of the filed associations that hold the study, oldest filing first."""
    mine = {ident: rec for ident, rec in state["records"].items() if rec["study"]}
    return dict(sorted(mine.items(), key=lambda item: item[1]["filed_at"] or 0))


def duplicates(state):
    """SOP Instance UIDs filed more than once in the same series dir."""
    found = []
    for uid, copies in state["filed"].items():
        dirs = [os.path.dirname(path) for path, _digest in copies]
        if len(dirs) != len(set(dirs)):
            found.append(uid)
    return found


def filer_restarts(host, unit):
    return int(host.run("systemctl show -p NRestarts --value %s", unit).stdout.strip() or 0)


# Killing the filer mid-filing --------------------------------------------------------------------

# Run on the gateway (python3 -c SCRIPT tmp data study unit minimum timeout): waits until an
# association is in the queue (the filer took it) and at least `minimum` staged copies of the study
# exist in its series dirs, then SIGKILLs the filer's main process (its pid read beforehand, so that
# nothing comes between the count and the kill); prints what it saw as JSON.
_KILLER = r"""
import glob, json, os, signal, subprocess, sys, time
tmp, data, study, unit, minimum, timeout = sys.argv[1:7]
minimum, deadline = int(minimum), time.monotonic() + float(timeout)
queue = os.path.join(tmp, 'queue')
pid = int(subprocess.run(['systemctl', 'show', '-p', 'MainPID', '--value', unit],
                         capture_output=True, text=True).stdout.strip() or 0)
with open('/proc/%d/cmdline' % pid, 'rb') as handle:
    assert b'pacsgate_listener.filer' in handle.read(), 'not the filer'
while time.monotonic() < deadline:
    if os.listdir(queue):
        temps = finals = 0
        for series in glob.glob(os.path.join(data, '*', '*-' + study, '*')):
            try:
                names = os.listdir(series)
            except OSError:
                continue
            temps += sum(1 for n in names if n.endswith('.pacsgate-tmp'))
            finals += sum(1 for n in names if n.endswith('.dcm'))
        if temps >= minimum:
            os.kill(pid, signal.SIGKILL)
            print(json.dumps({'killed': pid, 'temps': temps, 'finals': finals, 'queued': len(os.listdir(queue))}))
            sys.exit(0)
    time.sleep(0.005)
print(json.dumps({'killed': None}))
"""


class FilerKiller(threading.Thread):
    """Kills the filer (SIGKILL, its main process) once it has staged `minimum` instances of the
    study while the association is still in the queue; `result` holds what the gateway saw."""

    def __init__(self, host, gw, study_uid, unit, minimum, timeout=120):
        super().__init__(daemon=True)
        self.argv = ["docker", "exec", name_of(host), "python3", "-c", _KILLER, gw["tmp_dir"], gw["data_dir"],
                     study_uid, unit, str(minimum), str(timeout)]
        self.timeout = timeout
        self.result = {}

    def run(self):
        res = subprocess.run(self.argv, capture_output=True, text=True, timeout=self.timeout + 30, check=False)
        try:
            self.result = json.loads(res.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            self.result = {"killed": None, "error": res.stderr[-2000:]}


def account_copies(host, gw, study_uid, sender, sources, timeout=180):
    """harness.account() for a study filed in more than one copy (a corrected resend filed into a
    new patient dir beside the first): an acknowledged instance is filed byte-identical when one
    of its filed copies has the digest of what was sent."""
    def filed():
        return {uid: {digest for _path, digest in copies}
                for uid, copies in gateway_state(host, gw, study_uid)["filed"].items()}
    return account(host, gw, study_uid, sender, sources, timeout=timeout, filed=filed)
