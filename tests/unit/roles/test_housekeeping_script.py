"""Unit tests of the role's housekeeping script (roles/dicom_listener/files/housekeeping.py)."""

import importlib.util
import os
import time

import pytest

from ansible_collections.pacsgate.listener.plugins.module_utils import gateway

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, '..', '..', '..', 'roles', 'dicom_listener', 'files', 'housekeeping.py')
spec = importlib.util.spec_from_file_location('housekeeping', SCRIPT)
housekeeping = importlib.util.module_from_spec(spec)
spec.loader.exec_module(housekeeping)

DAY = 86400


def age(path, seconds, now):
    for root, dirs, files in os.walk(str(path)):
        for name in [''] + dirs + files:
            os.utime(os.path.join(root, name), (now - seconds, now - seconds))


@pytest.fixture
def listener(tmp_path):
    now = time.time()
    tmp, data = tmp_path / 'tmp', tmp_path / 'data'
    series = data / 'P-X' / 'S-1.2' / 'SE-1.2.3'
    series.mkdir(parents=True)
    (series / '00001-1.2.3.1.dcm').write_bytes(b'x')
    (series / '00002-1.2.3.2.dcm').write_bytes(b'x')
    for name, uids, days in (('old-filed', ['1.2.3.1', '1.2.3.2'], 2), ('old-echo', [], 2),
                             ('old-unfiled', ['1.2.3.1', '9.9.9'], 2), ('new-filed', ['1.2.3.2'], 0)):
        d = tmp / name / 'X_20260101'
        d.mkdir(parents=True)
        (tmp / name / 'debug.log').write_text('log')
        for uid in uids:
            (d / ('CT.' + uid)).write_bytes(b'x')
        age(tmp / name, days * DAY, now)
    return str(tmp), str(data), now


def test_removes_only_old_fully_filed_dirs(listener):
    tmp, data, now = listener
    removed, kept = housekeeping.sweep(gateway, tmp, data, DAY, now=now)
    assert sorted(os.path.basename(p) for p in removed) == ['old-echo', 'old-filed']
    assert sorted(os.path.basename(p) for p in kept) == ['new-filed', 'old-unfiled']
    assert sorted(os.listdir(tmp)) == ['new-filed', 'old-unfiled']
    assert len(gateway.filed_instances(data)[0]) == 2  # the data dir is untouched


def test_dry_run_removes_nothing(listener):
    tmp, data, now = listener
    removed, _kept = housekeeping.sweep(gateway, tmp, data, DAY, dry_run=True, now=now)
    assert len(removed) == 2
    assert len(os.listdir(tmp)) == 4


def test_refuses_a_data_dir_inside_the_tmp_dir(tmp_path):
    (tmp_path / 'data').mkdir()
    with pytest.raises(ValueError):
        housekeeping.sweep(gateway, str(tmp_path), str(tmp_path / 'data'), DAY)
