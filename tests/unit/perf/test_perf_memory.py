"""The benchmark's memory and CPU readings (tests/perf/memory.py): smaps_rollup and stat parsing,
which processes count as what, and the per-association figures the verdicts use."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'perf'))
import memory  # noqa: E402  pylint: disable=wrong-import-position

# A real /proc/<pid>/smaps_rollup (kernel 6.x), with its header line.
ROLLUP = """561c9257a000-7fff1903a000 ---p 00000000 00:00 0                          [rollup]
Rss:                1612 kB
Pss:                 208 kB
Pss_Dirty:           112 kB
Pss_Anon:            112 kB
Pss_File:             96 kB
Pss_Shmem:             0 kB
Shared_Clean:       1464 kB
Shared_Dirty:          0 kB
Private_Clean:        36 kB
Private_Dirty:       112 kB
Referenced:         1612 kB
Anonymous:           112 kB
Swap:                  0 kB
SwapPss:               0 kB
Locked:                0 kB
"""
STATUS = "Name:\tpython3\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t  60000 kB\nVmHWM:\t   41234 kB\nVmRSS:\t   40000 kB\n"
GATE = ['/usr/bin/perl', '/usr/local/libexec/pacsgate/pacsgate-gate', '/etc/pacsgate/dicomlistener.gate']
INETD = ['/usr/bin/storescp', '--inetd', '--aetitle', 'CHRISLOCAL', '--output-directory', '/home/dicom/tmp/incoming/x']
FORK = ['/usr/bin/storescp', '--fork', '--aetitle', 'CHRISLOCAL', '--output-directory', '/bench/a', '11112']
FILER = ['/opt/pypx/bin/python', '-I', '-m', 'pacsgate_listener.filer', '--config', '/etc/pacsgate/x.json']


def test_parse_rollup_reads_every_kb_field_and_skips_the_header():
    fields = memory.parse_rollup(ROLLUP)
    assert fields['Rss'] == 1612
    assert fields['Pss'] == 208
    assert fields['Private_Dirty'] == 112
    assert '561c9257a000-7fff1903a000 ---p 00000000 00' not in fields
    assert all(isinstance(v, int) for v in fields.values())


def test_parse_rollup_reads_vmhwm_from_status():
    assert memory.parse_rollup(STATUS)['VmHWM'] == 41234
    assert 'Name' not in memory.parse_rollup(STATUS)


@pytest.mark.parametrize('argv, kind', [
    (GATE, memory.GATE),
    (INETD, memory.ASSOCIATION),
    (FORK, memory.BARE),
    (FILER, memory.FILER),
    (['/usr/bin/storescp', '11112'], None),
    (['/usr/bin/perl', '/usr/local/bin/other'], None),
    (['/opt/pypx/bin/python', '-m', 'pacsgate_listener.housekeeping'], None),
    ([], None),
])
def test_classify(argv, kind):
    assert memory.classify(argv) == kind


def make_proc(root, pid, argv, rss, pss, hwm=None, stat=None):
    path = root / str(pid)
    path.mkdir()
    (path / 'cmdline').write_bytes(b'\0'.join(a.encode() for a in argv) + b'\0')
    if rss is not None:
        (path / 'smaps_rollup').write_text('Rss: %d kB\nPss: %d kB\n' % (rss, pss))
    (path / 'status').write_text('VmHWM:\t%d kB\n' % (hwm or rss or 0))
    if stat:
        (path / 'stat').write_text(stat)


def test_snapshot_classifies_and_skips_what_it_cannot_read(tmp_path):
    make_proc(tmp_path, 10, GATE, 5000, 1200)
    make_proc(tmp_path, 11, INETD, 12000, 2500)
    make_proc(tmp_path, 12, INETD, 12000, 2600)
    make_proc(tmp_path, 13, FILER, 40000, 33000, hwm=52000)
    make_proc(tmp_path, 14, INETD, None, None)          # ended while being read: no smaps_rollup
    make_proc(tmp_path, 15, ['/usr/sbin/xinetd'], 2000, 1000)
    (tmp_path / 'self').mkdir()
    snap = memory.snapshot(str(tmp_path))
    assert sorted(p['pid'] for p in snap[memory.ASSOCIATION]) == [11, 12]
    assert [p['pid'] for p in snap[memory.GATE]] == [10]
    assert snap[memory.FILER][0]['hwm_kb'] == 52000
    assert set(snap) == {memory.GATE, memory.ASSOCIATION, memory.FILER}


def proc(pid, rss, pss):
    return {'pid': pid, 'rss_kb': rss, 'pss_kb': pss, 'hwm_kb': None}


def test_summarize_per_association_counts_gates_and_storescp_together():
    samples = [
        {memory.ASSOCIATION: [proc(1, 10240, 2048)]},                      # one alone: less shared
        {memory.GATE: [proc(2, 5120, 1024)], memory.ASSOCIATION: [proc(1, 10240, 2048), proc(3, 10240, 3072)]},
        {memory.ASSOCIATION: [proc(1, 10240, 4096), proc(3, 10240, 4096)]},
    ]
    out = memory.summarize(samples)
    per = out['per_association']
    assert out['samples'] == 3
    assert per['max_processes'] == 3
    assert per['pss_mib_at_peak'] == pytest.approx(6.0)
    assert per['pss_mib_per_process_at_peak'] == pytest.approx(2.0)
    assert per['rss_mib_per_process_at_peak'] == pytest.approx(25.0 / 3, abs=0.01)
    # The busiest samples (at least half the peak's 3): 2.0 and 4.0 MiB each; the lone process's
    # 2.0 MiB sample has 1 < 1.5 processes and does not count.
    assert per['max_pss_mib_per_process_busy'] == pytest.approx(4.0)
    assert per['max_pss_mib_one'] == pytest.approx(4.0)
    assert per['max_rss_mib_one'] == pytest.approx(10.0)
    assert out[memory.ASSOCIATION]['max_processes'] == 2


def test_summarize_reports_the_filers_vmhwm_and_nothing_for_no_samples():
    filer = {'pid': 9, 'rss_kb': 40960, 'pss_kb': 30720, 'hwm_kb': 61440}
    out = memory.summarize([{memory.FILER: [filer]}])
    assert out[memory.FILER]['hwm_mib'] == pytest.approx(60.0)
    assert out[memory.FILER]['max_rss_mib_one'] == pytest.approx(40.0)
    assert 'per_association' not in out
    assert memory.summarize([]) == {'samples': 0}


def stat_line(pid, comm, ppid, utime, stime, cutime, cstime):
    return ('%d (%s) S %d %d %d 0 -1 4194304 102 0 0 0 %d %d %d %d 20 0 1 0 523474 3133440 389\n'
            % (pid, comm, ppid, pid, pid, utime, stime, cutime, cstime))


def test_parse_stat_takes_the_fields_after_the_last_parenthesis():
    # A command name may hold spaces and parentheses.
    line = stat_line(42, 'we (ird) name', 7, 100, 50, 3000, 700)
    assert memory.parse_stat(line) == (7, 150, 3700)
    real = ('9567 (cat) R 9529 9529 5705 0 -1 4194304 102 0 0 0 0 0 0 0 20 0 1 0 523474 3133440 389 '
            '18446744073709551615 94180652154880 94180652174761 140726331938224 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n')
    assert memory.parse_stat(real) == (9529, 0, 0)


def test_cpu_attributes_reaped_children_and_the_filers_own_time(tmp_path):
    ticks = os.sysconf('SC_CLK_TCK')
    make_proc(tmp_path, 100, ['/usr/sbin/xinetd', '-stayalive'], 1, 1, stat=stat_line(100, 'xinetd', 1, 5, 5, 3 * ticks, ticks))
    make_proc(tmp_path, 200, FORK, 1, 1, stat=stat_line(200, 'storescp', 1, 1, 1, 2 * ticks, 0))
    # A child of the bare parent in progress: its own reaped children are not the parent's.
    make_proc(tmp_path, 201, FORK, 1, 1, stat=stat_line(201, 'storescp', 200, 7 * ticks, 0, 9 * ticks, 0))
    make_proc(tmp_path, 300, FILER, 1, 1, stat=stat_line(300, 'python', 1, ticks, ticks, 50 * ticks, 0))
    assert memory.cpu(str(tmp_path)) == {'xinetd_children': 4.0, 'bare_children': 2.0, 'filer': 2.0}
