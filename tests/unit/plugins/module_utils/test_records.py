"""The tmp tree's records, the stats file and the root-safe health reader (plugins/module_utils/records.py)."""

import errno
import json
import os
import time

import pytest

from ansible_collections.pacsgate.listener.plugins.module_utils import records

from conftest import hold_lock

NOW = 1796126400.0  # 2026-12-01T12:00:00Z
OLD = NOW - 3600
RECENT = NOW - 10


def make_dir(path, mtime=None, lock=False):
    os.makedirs(path)
    if lock:
        open(os.path.join(path, '.lock'), 'w').close()
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def reason(path, kind, errno_name=None):
    with open(path, 'w') as handle:
        json.dump({'reason': 'why', 'class': kind, 'errno': errno_name, 'at': NOW}, handle)


class Tree:
    """A listener's tmp and log dirs in every state health() tells apart."""

    def __init__(self, root, filed=3):
        self.tmp = os.path.join(str(root), 'tmp')
        self.log = os.path.join(str(root), 'log')
        os.makedirs(self.log)
        self.held = []
        t = self.tmp
        self.held.append(hold_lock(os.path.join(make_dir(t + '/incoming/20261201T110000-1-00000001', lock=True), '.lock')))
        make_dir(t + '/incoming/20261201T100000-2-00000002', lock=True)
        make_dir(t + '/incoming/20261201T115950-3-00000003', lock=True)
        make_dir(t + '/incoming/.new-20261201T115959-4-00000004', lock=True)
        make_dir(t + '/queue/20261201T090000-5-00000005')
        make_dir(t + '/queue/20261201T115955-6-00000006')
        for number in range(filed):
            filed_dir = make_dir(t + '/filed/20261130T%06d-7-%08x' % (number, number))
            with open(os.path.join(filed_dir, 'CT.1.2.%d' % number), 'w') as handle:
                handle.write('x')
            with open(os.path.join(filed_dir, records.RECORD), 'w') as handle:
                json.dump({'files': []}, handle)
        quarantine = make_dir(t + '/quarantine/20261201T080000-8-00000008')
        for name, kind, errno_name in (('CT.1', 'name', 'ENAMETOOLONG'), ('CT.2', 'truncated', None)):
            open(os.path.join(quarantine, name), 'w').close()
            reason(os.path.join(quarantine, name + '.reason.json'), kind, errno_name)
        quarantine = make_dir(t + '/quarantine/20261201T080001-9-00000009')
        reason(os.path.join(quarantine, 'CT.3.reason.json'), 'unreadable')
        make_dir(t + '/quarantine/20261201T080002-9-0000000a')  # emptied by hand: not counted
        # px-listen's dirs: filed (record), receiving (lock held), stranded, recent.
        recorded = make_dir(t + '/0b8f3d4e-1a2b-4c3d-8e4f-5a6b7c8d9e0f')
        open(os.path.join(recorded, records.RECORD), 'w').close()
        self.held.append(hold_lock(os.path.join(make_dir(t + '/1b8f3d4e-1a2b-4c3d-8e4f-5a6b7c8d9e0f'), '.lock')))
        stranded = make_dir(t + '/2b8f3d4e-1a2b-4c3d-8e4f-5a6b7c8d9e0f')
        sub = make_dir(stranded + '/PAT_20261201', mtime=NOW - 1000)
        open(os.path.join(sub, 'CT.4'), 'w').close()
        os.utime(os.path.join(sub, 'CT.4'), (NOW - 1000, NOW - 1000))
        os.utime(sub, (NOW - 1000, NOW - 1000))
        os.utime(stranded, (NOW - 2000, NOW - 2000))
        make_dir(t + '/3b8f3d4e-1a2b-4c3d-8e4f-5a6b7c8d9e0f', mtime=RECENT)
        with open(os.path.join(t, records.REFUSE_FLAG), 'w') as handle:
            handle.write('free space on the data file system is 900 MB, below the minimum of 1024 MB\n')
        stats = records.empty_stats()
        stats['last_association_at'] = NOW - 5
        stats['instances_filed'] = 42
        with open(os.path.join(self.log, records.STATS), 'w') as handle:
            json.dump(stats, handle)
        # Times last: making entries changes their parents' mtimes.
        for name, mtime in (('incoming/20261201T110000-1-00000001', NOW - 20), ('incoming/20261201T100000-2-00000002', OLD),
                            ('incoming/20261201T115950-3-00000003', RECENT),
                            ('queue/20261201T090000-5-00000005', NOW - 10800), ('queue/20261201T115955-6-00000006', NOW - 5),
                            ('3b8f3d4e-1a2b-4c3d-8e4f-5a6b7c8d9e0f', RECENT)):
            os.utime(os.path.join(t, name), (mtime, mtime))

    def close(self):
        for fd in self.held:
            os.close(fd)


@pytest.fixture
def listener(tmp_path):
    made = Tree(tmp_path)
    yield made
    made.close()


def test_health_tells_every_state_apart(listener):
    health = records.health(listener.tmp, listener.log, stranded_after=300, now=NOW)
    assert health['receiving'] == 2  # an incoming dir and a px-listen dir, their locks held
    assert health['setting_up'] == 1
    assert health['queued'] == 6  # 2 finished in incoming, 2 in the queue, 2 px-listen dirs without a record
    assert health['stranded_by_place'] == {'incoming': 1, 'queue': 1, 'px-listen': 1}
    assert health['stranded'] == 3
    assert (health['quarantined_instances'], health['quarantined_associations']) == (3, 2)
    assert health['quarantine_reasons'] == {'ENAMETOOLONG': 1, 'truncated': 1, 'unreadable': 1}
    assert health['filed_kept'] == 4
    assert health['oldest_pending_age'] == 10800
    assert health['refuse'] is True and health['refuse_reason'].startswith('free space on the data file system')
    assert health['stats']['instances_filed'] == 42
    assert health['last_association_at'] == NOW - 5
    assert health['complete'] is True and health['problems'] == []


def test_health_holds_no_paths_unless_asked(listener, tmp_path):
    health = records.health(listener.tmp, listener.log, now=NOW)
    assert 'paths' not in health and str(tmp_path) not in json.dumps(health)
    health = records.health(listener.tmp, listener.log, now=NOW, with_paths=True, limit=2)
    assert len(health['paths']['stranded']) == 2  # of 3, limit 2
    assert all(path.startswith(listener.tmp) for paths in health['paths'].values() for path in paths)
    assert len(health['paths']['receiving']) == 2


def test_health_is_bounded(listener):
    health = records.health(listener.tmp, listener.log, now=NOW, max_entries=5)
    assert health['complete'] is False


class Opened:
    """records' view of the os module, noting every descriptor it opens (by what it points at)."""

    def __init__(self):
        self.paths = []

    def __getattr__(self, name):
        return getattr(os, name)

    def open(self, path, flags, mode=0o777, dir_fd=None):
        fd = os.open(path, flags, mode, dir_fd=dir_fd)
        self.paths.append(os.readlink('/proc/self/fd/%d' % fd))
        return fd

    def scandir(self, path='.'):
        self.paths.append(os.readlink('/proc/self/fd/%d' % path) if isinstance(path, int) else os.path.realpath(path))
        return os.scandir(path)


def test_health_costs_the_backlog_not_the_archive(tmp_path, monkeypatch, capsys):
    small, large = Tree(tmp_path / 'small', filed=2), Tree(tmp_path / 'large', filed=3000)
    try:
        counts = []
        for tree in (small, large):
            seen = Opened()
            monkeypatch.setattr(records, 'os', seen)
            started = time.perf_counter()
            health = records.health(tree.tmp, tree.log, now=NOW)
            elapsed = time.perf_counter() - started
            monkeypatch.undo()
            assert not [p for p in seen.paths if '/filed/' in p]  # no filed association is entered
            counts.append(len(seen.paths))
        assert counts[0] == counts[1]
        assert health['filed_kept'] == 3001
        with capsys.disabled():
            print('\nhealth: %.1f ms for a tmp tree with 3000 filed associations kept' % (elapsed * 1000))
    finally:
        small.close()
        large.close()


def snapshot(path):
    found = {}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            found[os.path.relpath(full, path)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return found


@pytest.fixture
def outside(tmp_path_factory):
    """A directory outside the listener's tree holding what a planted symlink would lead to."""
    path = str(tmp_path_factory.mktemp('outside'))
    for sub in ('20261201T000000-1-0000000f', '4b8f3d4e-1a2b-4c3d-8e4f-5a6b7c8d9e0f'):
        os.makedirs(os.path.join(path, sub))
    stats = records.empty_stats()
    stats['instances_filed'] = 999
    with open(os.path.join(path, 'stats.json'), 'w') as handle:
        json.dump(stats, handle)
    reason(os.path.join(path, 'evil.reason.json'), 'evil')
    with open(os.path.join(path, 'flag'), 'w') as handle:
        handle.write('outside')
    return path


def test_health_follows_no_symlink(tmp_path, outside, monkeypatch):
    tmp, log = str(tmp_path / 'tmp'), str(tmp_path / 'log')
    for sub in ('incoming', 'quarantine/20261201T000000-1-00000001'):
        os.makedirs(os.path.join(tmp, sub))
    os.makedirs(log)
    os.symlink(outside, os.path.join(tmp, 'queue'))
    os.symlink(outside, os.path.join(tmp, 'filed'))
    os.symlink(outside, os.path.join(tmp, 'incoming', '20261201T000000-2-00000002'))
    os.symlink(outside, os.path.join(tmp, '5b8f3d4e-1a2b-4c3d-8e4f-5a6b7c8d9e0f'))
    os.symlink(os.path.join(outside, 'evil.reason.json'),
               os.path.join(tmp, 'quarantine', '20261201T000000-1-00000001', 'CT.9.reason.json'))
    os.symlink(os.path.join(outside, 'flag'), os.path.join(tmp, records.REFUSE_FLAG))
    os.symlink(os.path.join(outside, 'stats.json'), os.path.join(log, records.STATS))
    before = snapshot(outside)
    seen = Opened()
    monkeypatch.setattr(records, 'os', seen)
    health = records.health(tmp, log, now=NOW)
    monkeypatch.undo()
    assert not [p for p in seen.paths if p.startswith(outside)]
    assert snapshot(outside) == before
    assert (health['queued'], health['receiving'], health['filed_kept'], health['quarantined_instances']) == (0, 0, 0, 0)
    assert health['stats'] is None and health['refuse_reason'] is None
    assert sorted(health['problems']) == ['refuse flag not readable (a symlink)', 'stats file not readable (a symlink)']
    # A symlinked tmp or log dir is not read at all.
    os.rename(tmp, tmp + '.real')
    os.symlink(outside, tmp)
    health = records.health(tmp, outside, now=NOW)
    assert health['problems'][0].startswith('tmp dir not readable (')
    assert snapshot(outside) == before


def test_writing_replaces_a_planted_symlink_not_its_target(tmp_path, outside):
    log = str(tmp_path / 'log')
    os.makedirs(log)
    os.symlink(os.path.join(outside, 'stats.json'), os.path.join(log, records.STATS))
    before = snapshot(outside)
    stats = records.update_stats(log, lambda s: s.update(instances_filed=s['instances_filed'] + 1), now=NOW)
    assert stats['instances_filed'] == 1  # the symlink's target was not read either
    assert not os.path.islink(os.path.join(log, records.STATS))
    association = str(tmp_path / 'association')
    os.makedirs(association)
    os.symlink(os.path.join(outside, 'flag'), os.path.join(association, records.RECORD))
    os.symlink(os.path.join(outside, 'stats.json'), os.path.join(association, 'x'))
    fd = records.open_dir(association)
    try:
        records.write_record(fd, {'version': 1})
        with pytest.raises(ValueError):
            records.read_json('x', dir_fd=fd)
    finally:
        os.close(fd)
    assert not os.path.islink(os.path.join(association, records.RECORD))
    assert snapshot(outside) == before
    assert sorted(os.listdir(association)) == [records.RECORD, 'x']  # no temp file left


# Stats ------------------------------------------------------------------------------------------

def test_stats_updates_are_atomic_and_merged(tmp_path):
    log = str(tmp_path)
    assert records.read_stats(log) is None
    records.update_stats(log, lambda s: s.update(associations_filed=2), now=NOW)
    with open(os.path.join(log, records.STATS), 'w') as handle:
        handle.write('{"associations_filed": "many", "bytes_filed": 7, "associations": {"refused": {"source": 3, "x": "y"}}}')
    stats = records.read_stats(log)
    assert stats['associations_filed'] == 0 and stats['bytes_filed'] == 7
    assert stats['associations']['refused']['source'] == 3 and 'x' not in stats['associations']['refused']
    with open(os.path.join(log, records.STATS), 'w') as handle:
        handle.write('{not json')
    assert records.update_stats(log, lambda s: None, now=NOW)['associations_filed'] == 0
    assert sorted(os.listdir(log)) == [records.STATS_LOCK, records.STATS]


def test_latency_histogram_and_days():
    stats = records.empty_stats()
    for seconds in (0.05, 0.7, 3, 1000):
        records.observe_latency(stats, seconds)
    histogram = stats['filing_latency_seconds']
    assert histogram['buckets'] == {'0.1': 1, '0.5': 1, '1': 2, '2': 2, '5': 3, '10': 3, '30': 3, '60': 3, '300': 3,
                                    '+Inf': 4}
    assert (histogram['count'], histogram['sum']) == (4, 1003.75)
    for day in range(40):
        records.count_received(stats, NOW + 86400 * day, 2)
    assert len(stats['received_by_day']) == records.DAYS_KEPT
    assert (min(stats['received_by_day']), max(stats['received_by_day'])) == ('2026-12-06', '2027-01-09')
    assert stats['received_by_day']['2027-01-09'] == 2


def test_gate_log_lines():
    stats = records.empty_stats()
    assert records.count_gate_line(stats, '2026-12-01T12:00:00.250Z accepted - id=x peer=::1 calling=A called=B') == NOW + 0.25
    records.count_gate_line(stats, '2026-12-01T12:00:01Z refused source id=- peer=10.0.0.1 calling=A called=B')
    records.count_gate_line(stats, '2026-12-01T12:00:02Z refused Weird!Reason id=- peer=10.0.0.1')
    records.count_gate_line(stats, 'garbage')
    assert stats['associations']['accepted'] == 1 and stats['last_association_at'] == NOW + 0.25
    assert stats['associations']['refused']['source'] == 1 and stats['associations']['refused']['other'] == 1
    assert records.parse_utc('2026-12-01T12:00:00+00:00') == NOW
    assert records.parse_utc('2026-12-01 12:00:00') is None and records.parse_utc('2026-13-01T12:00:00Z') is None


# Configuration, locks ------------------------------------------------------------------------------

@pytest.mark.parametrize('change, message', [
    ({'tmp_dir': 'relative/tmp'}, 'tmp_dir must be an absolute path'),
    ({'data_dir': '/srv/tmp/data'}, '/srv/tmp/data lies inside /srv/tmp'),
    ({'log_dir': '/srv/tmp'}, 'must differ'),
    ({'workers': 0}, 'workers must be an integer from 1 to 64'),
    ({'workers': True}, 'workers must be an integer'),
    ({'min_free_mb': '1024'}, 'min_free_mb must be an integer'),
    ({'receiver': 'storescp'}, 'receiver must be one of filer, px-listen'),
])
def test_configuration_is_checked(tmp_path, change, message):
    config = {'tmp_dir': '/srv/tmp', 'log_dir': '/srv/log', 'data_dir': '/srv/data'}
    config.update(change)
    path = str(tmp_path / 'c.json')
    with open(path, 'w') as handle:
        json.dump(config, handle)
    with pytest.raises(ValueError) as failed:
        records.load_config(path)
    assert message in str(failed.value)


def test_configuration_defaults(tmp_path):
    path = str(tmp_path / 'c.json')
    with open(path, 'w') as handle:
        json.dump({'tmp_dir': '/srv/tmp/', 'log_dir': '/srv/log', 'data_dir': '/srv/data'}, handle)
    config = records.load_config(path)
    assert config['tmp_dir'] == '/srv/tmp' and config['workers'] == 2 and config['receiver'] == 'filer'


def test_locks(tmp_path):
    fd = records.open_dir(str(tmp_path))
    try:
        assert records.lock_is_free(fd) is True and not os.path.exists(str(tmp_path / '.lock'))
        assert records.lock_state(fd) == (None, 'missing')
        held, state = records.lock_state(fd, create=True)
        assert state == 'held'
        assert records.lock_is_free(fd) is False and records.lock_state(fd) == (None, 'busy')
        os.close(held)
        assert records.lock_is_free(fd) is True
    finally:
        os.close(fd)


def test_read_regular_refuses_what_is_not_a_small_regular_file(tmp_path):
    fd = records.open_dir(str(tmp_path))
    try:
        (tmp_path / 'big').write_bytes(b'x' * 100)
        os.mkfifo(str(tmp_path / 'fifo'))
        assert records.read_regular('missing', dir_fd=fd) is None
        with pytest.raises(ValueError):
            records.read_regular('big', dir_fd=fd, limit=10)
        with pytest.raises(ValueError):
            records.read_regular('fifo', dir_fd=fd)  # not opened for a blocking read either
        with pytest.raises(OSError) as failed:
            records.open_dir('big', dir_fd=fd)
        assert failed.value.errno == errno.ENOTDIR
    finally:
        os.close(fd)
