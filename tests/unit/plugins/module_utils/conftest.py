"""Shared fixtures for the filer, records and housekeeping tests: real DICOM files made with pydicom,
a listener's tmp/log/data dirs, and pypx's own px-listen filing pass run with a fake storescp."""

import copy
import fcntl
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, '..', '..', '..', '..'))
LAUNCHER = os.path.join(REPO, 'plugins', 'module_utils', 'px_listen_lean.py')


class Study:
    """Makes CT instances (pydicom's CT_small.dcm with new UIDs and attributes) as storescp names them."""

    def __init__(self, patient_id='PG0001', patient_name='PACSGATE^TEST', description='PACSGATE TEST',
                 study_date='20261129', charset=None):
        from pydicom.uid import generate_uid
        self.patient_id = patient_id
        self.patient_name = patient_name
        self.description = description
        self.study_date = study_date
        self.charset = charset
        self.study_uid = generate_uid()
        self.series = []

    def add_series(self, description='SERIES 1', series_uid=None):
        from pydicom.uid import generate_uid
        self.series.append({'uid': series_uid or generate_uid(), 'description': description})
        return self.series[-1]['uid']

    def write(self, out_dir, series_uid, count, first=1, mtime=None, **overrides):
        """Write count instances of a series into out_dir as CT.<SOPInstanceUID>; return their names."""
        import pydicom
        from pydicom.data import get_testdata_file
        from pydicom.uid import generate_uid
        template = TEMPLATE.get('ds')
        if template is None:
            template = TEMPLATE['ds'] = pydicom.dcmread(get_testdata_file('CT_small.dcm'))
        series = next(s for s in self.series if s['uid'] == series_uid)
        os.makedirs(out_dir, exist_ok=True)
        names = []
        for number in range(first, first + count):
            ds = copy.deepcopy(template)  # a shallow copy shares its elements with the template
            sop_uid = overrides.pop('sop_uid', None) or generate_uid()
            if self.charset:
                ds.SpecificCharacterSet = self.charset
            ds.PatientID = self.patient_id
            ds.PatientName = self.patient_name
            ds.StudyInstanceUID = self.study_uid
            ds.StudyDescription = self.description
            ds.StudyDate = self.study_date
            ds.SeriesInstanceUID = series_uid
            ds.SeriesDescription = series['description']
            ds.SeriesDate = self.study_date
            ds.InstanceNumber = number
            ds.SOPInstanceUID = sop_uid
            ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
            for key, value in overrides.items():
                setattr(ds, key, value)
            name = 'CT.' + sop_uid
            path = os.path.join(out_dir, name)
            ds.save_as(path, enforce_file_format=True)
            if mtime is not None:
                os.utime(path, (mtime + number * 0.001, mtime + number * 0.001))
            names.append(name)
        return names


TEMPLATE = {}


@pytest.fixture
def study():
    return Study


class Gateway:
    """A listener's tmp, log and data dirs, its helpers' configuration, and associations put into the
    tmp tree as the gate and storescp leave them."""

    def __init__(self, root, **config):
        self.root = str(root)
        self.tmp = os.path.join(self.root, 'tmp')
        self.log = os.path.join(self.root, 'log')
        self.data = os.path.join(self.root, 'data')
        for path in (self.tmp, self.log, self.data):
            os.makedirs(path, exist_ok=True)
        self.config = {'service': 'dicomlistener', 'receiver': 'filer', 'tmp_dir': self.tmp,
                       'log_dir': self.log, 'data_dir': self.data, 'workers': 2, 'min_free_mb': 0,
                       'refile_after_minutes': 5, 'min_age_hours': 24, 'log_max_mb': 16, 'log_retention_days': 30}
        self.config.update(config)
        self.config_file = os.path.join(self.root, 'dicomlistener.json')
        with open(self.config_file, 'w') as handle:
            json.dump(self.config, handle)
        self.lines = []
        self.counter = 0

    def path(self, *names):
        return os.path.join(self.tmp, *names)

    def new_id(self):
        self.counter += 1
        return '20261201T1200%02d-%d-%08x' % (self.counter, 4000 + self.counter, self.counter)

    def receive(self, source_dir, names=None, association=None, started=None):
        """Put received files (copies of source_dir's, times kept) into incoming/<id> with the gate's
        .association and .lock; return the id."""
        association = association or self.new_id()
        target = self.path('incoming', association)
        os.makedirs(target)
        with open(os.path.join(target, '.association'), 'w') as handle:
            handle.write('calling=PACS\ncalled=PACSGATE\npeer=192.0.2.10\nstarted=%.6f\npid=4242\n'
                         % (started or time.time()))
        open(os.path.join(target, '.lock'), 'w').close()
        for name in sorted(names if names is not None else os.listdir(source_dir)):
            shutil.copy2(os.path.join(source_dir, name), os.path.join(target, name))
        return association

    def filer(self, **kwargs):
        from ansible_collections.pacsgate.listener.plugins.module_utils import filer, records
        return filer.Filer(records.load_config(self.config_file), log=self.lines.append, **kwargs)

    def file_once(self):
        return self.filer().run_once()

    def record(self, association, place='filed'):
        with open(self.path(place, association, '.pacsgate-record.json')) as handle:
            return json.load(handle)

    def stats(self):
        with open(os.path.join(self.log, 'pacsgate-stats.json')) as handle:
            return json.load(handle)


@pytest.fixture
def gw(tmp_path):
    return Gateway(tmp_path / 'gw')


@pytest.fixture
def make_gateway(tmp_path):
    def make(name='gw', **config):
        return Gateway(tmp_path / name, **config)
    return make


def hold_lock(path):
    """An open descriptor holding an exclusive flock on path (as storescp holds its association's)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def tree(data_dir, log_dir=None):
    """{relative path: bytes} of a data dir (and the map files of a log dir), the data dir's absolute
    path replaced by <DATA> in .info and map files."""
    found = {}
    prefix = data_dir.encode()
    roots = [('data', data_dir)]
    if log_dir:
        roots += [(name, os.path.join(log_dir, name)) for name in ('patient_map', 'study_map', 'series_map')]
    for label, root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                path = os.path.join(dirpath, name)
                with open(path, 'rb') as handle:
                    content = handle.read()
                if not name.endswith('.dcm'):
                    content = content.replace(prefix, b'<DATA>')
                found[os.path.join(label, os.path.relpath(path, root))] = content
    return found


FAKE_STORESCP = '''\
#!{python}
"""A stand-in for storescp run by px-listen: copies prepared files into <-od>/<one -sp subdir>."""
import fcntl, json, os, shutil, sys
source, report = {source!r}, {report!r}
args = sys.argv[1:]
output = args[args.index('-od') + 1]
try:
    fd = os.open(os.path.join(output, '.lock'), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock = 'free'
    except OSError:
        lock = 'held'
except OSError:
    lock = 'missing'
subdir = os.path.join(output, 'PACSGATE.TEST_20261201_120000')
os.makedirs(subdir)
names = sorted(os.listdir(source))
for name in names:
    shutil.copy2(os.path.join(source, name), os.path.join(subdir, name))
print('fake storescp: %d file(s)' % len(names))
with open(report, 'w') as handle:
    json.dump({{'argv': sys.argv, 'lock': lock, 'files': len(names)}}, handle)
'''

PX_LISTEN_PASS = '''\
import importlib.util, json, sys, time
launcher, tmp, log, data, executable, out = sys.argv[1:7]
spec = importlib.util.spec_from_file_location('px_listen_lean', launcher)
lean = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lean)
lean.prepare()
listen_module = sys.modules['pypx.listen']
marks = {}
storescp = listen_module.subprocess.run

def run(*args, **kwargs):
    result = storescp(*args, **kwargs)
    marks['storescp_returned'] = time.perf_counter()
    return result

listen_module.subprocess.run = run
listen = listen_module.Listen({'tmp_directory': tmp, 'log_directory': log, 'data_directory': data,
                               'executable': executable})
listen.run()
done = time.perf_counter()
with open(out, 'w') as handle:
    json.dump({'uuid_directory': listen.uuid_directory, 'filing_seconds': done - marks['storescp_returned']}, handle)
'''


def px_listen_pass(work, source, tmp, log, data):
    """pypx's px-listen filing pass (pypx.listen.Listen(...).run(), set up by the lean launcher's
    prepare()) in a fresh interpreter, with a fake storescp that 'receives' the files in source."""
    os.makedirs(work, exist_ok=True)
    storescp = os.path.join(work, 'storescp')
    report = os.path.join(work, 'storescp.json')
    with open(storescp, 'w') as handle:
        handle.write(FAKE_STORESCP.format(python=sys.executable, source=source, report=report))
    os.chmod(storescp, 0o755)
    driver = os.path.join(work, 'px_listen_pass.py')
    with open(driver, 'w') as handle:
        handle.write(textwrap.dedent(PX_LISTEN_PASS))
    out = os.path.join(work, 'px_listen_pass.json')
    res = subprocess.run([sys.executable, driver, LAUNCHER, tmp, log, data, storescp, out],
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    with open(out) as handle:
        result = json.load(handle)
    with open(report) as handle:
        result['storescp'] = json.load(handle)
    return result


@pytest.fixture
def px_listen():
    return px_listen_pass
