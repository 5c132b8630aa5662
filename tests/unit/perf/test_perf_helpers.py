"""The benchmark's helpers that need no Docker: the gate rules without checks (against the role's
own renderer), the xinetd variants, /usr/bin/time -v and ansible-playbook output parsing, the data
set digests the byte-for-byte counts rest on, and the synthetic archive the health scan reads."""

import json
import os
import subprocess
import sys

from pydicom.data import get_testdata_file

from ansible_collections.pacsgate.listener.plugins.module_utils import gateconf, records

PERF = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'perf')
sys.path.insert(0, PERF)
import benchlib  # noqa: E402  pylint: disable=wrong-import-position
import healthscan  # noqa: E402  pylint: disable=wrong-import-position
import receivers  # noqa: E402  pylint: disable=wrong-import-position
import watch  # noqa: E402  pylint: disable=wrong-import-position

PACS = [{'aetitle': 'PACS1', 'host': '10.1.2.3'}, {'aetitle': 'PACS2', 'host': '10.1.2.3'},
        {'aetitle': 'PACS 3', 'host': 'pacs.example.org'}, {'aetitle': 'PACS4', 'host': '2001:db8::/64'}]
ALLOWED = ['127.0.0.1', '::1', '192.0.2.0/24']


def gate_settings(checks):
    return {
        'mode': 'plain', 'called': 'CHRISLOCAL' if checks else None,
        'peers': gateconf.peers_of(PACS, ALLOWED, calling_aetitle_check=checks),
        'refuse_flag': '/home/dicom/tmp/.pacsgate-refuse', 'incoming': '/home/dicom/tmp/incoming',
        'log': '/home/dicom/log/associations.log', 'syslog': None, 'acse_timeout': 30,
        'argv': ['/usr/bin/storescp', '--inetd', '--aetitle', 'CHRISLOCAL', '--promiscuous', '--bit-preserving', '+xa'],
        'output_option': '--output-directory',
    }


def test_without_checks_is_what_the_role_renders_with_both_checks_off():
    with_checks = gateconf.render(gate_settings(True))
    assert 'called 43485249534c4f43414c' in with_checks
    assert receivers.without_checks(with_checks) == gateconf.render(gate_settings(False))


def test_storescp_argv_is_the_exec_and_arg_lines():
    text = gateconf.render(gate_settings(True))
    assert receivers.storescp_argv(text) == gate_settings(True)['argv']


SERVICE = """# Managed by Ansible
service dicomlistener
{
    port            = 10402
    user            = dicom
    server          = /usr/bin/perl
    server_args     = /usr/local/libexec/pacsgate/pacsgate-gate /etc/pacsgate/dicomlistener.gate
    env             = TCP_NODELAY=1
}
"""


def test_xinetd_variant_changes_name_port_and_server_only():
    text = receivers.xinetd_variant(SERVICE, 'benchnogate', 10404, '/usr/bin/storescp', '--inetd --aetitle X')
    lines = text.splitlines()
    assert 'service benchnogate' in lines
    assert '    port            = 10404' in lines
    assert '    server          = /usr/bin/storescp' in lines
    assert '    server_args     = --inetd --aetitle X' in lines
    assert '    env             = TCP_NODELAY=1' in lines
    assert len(lines) == len(SERVICE.splitlines())


# GNU time 1.9 (Debian 12), as the health scan reads it, with the figures changed.
TIME_V = """\tCommand being timed: "python3 -c pass"
\tUser time (seconds): 1.25
\tSystem time (seconds): 0.50
\tPercent of CPU this job got: 12%
\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02.50
\tAverage shared text size (kbytes): 0
\tAverage unshared data size (kbytes): 0
\tAverage stack size (kbytes): 0
\tAverage total size (kbytes): 0
\tMaximum resident set size (kbytes): 102400
\tAverage resident set size (kbytes): 0
\tMajor (requiring I/O) page faults: 0
\tMinor (reclaiming a frame) page faults: 69
\tExit status: 0
"""


def test_parse_time_v():
    assert healthscan.parse_time_v(TIME_V) == {'wall_s': 62.5, 'user_s': 1.25, 'sys_s': 0.5, 'max_rss_mib': 100.0}
    hours = TIME_V.replace('1:02.50', '1:00:01.00')
    assert healthscan.parse_time_v(hours)['wall_s'] == 3601.0


PLAYBOOK = """PLAY RECAP *********************************************************************
pacsgate-perf-bench-gw     : ok=58   changed=0    unreachable=0    failed=0    skipped=50   rescued=0    ignored=0

Monday 01 December 2026  13:22:10 +0000 (0:00:00.45)       0:00:58.09 *********
===============================================================================
pacsgate.listener.dicom_listener : Install the gateway's Python package --- 9.72s
Read the gateway's basic facts, as the connecting user ------------------ 1.84s
pacsgate.listener.dicom_listener : Validate the role's variables -------- 0.12s
"""


def test_parse_playbook_output():
    recap, tasks = benchlib.parse_playbook_output(PLAYBOOK)
    assert recap == {'pacsgate-perf-bench-gw': {'ok': 58, 'changed': 0, 'unreachable': 0, 'failed': 0, 'skipped': 50}}
    assert tasks[0] == {'task': "pacsgate.listener.dicom_listener : Install the gateway's Python package", 's': 9.72}
    assert [t['s'] for t in tasks] == [9.72, 1.84, 0.12]


def test_trailing_padding_removed_so_that_the_file_is_the_data_set_sent():
    with open(get_testdata_file('CT_small.dcm'), 'rb') as handle:
        data = handle.read()
    stripped = benchlib.without_trailing_padding(data)
    assert len(stripped) < len(data) and data.startswith(stripped)
    assert benchlib.without_trailing_padding(stripped) == stripped
    import pydicom  # pylint: disable=import-outside-toplevel
    from io import BytesIO  # pylint: disable=import-outside-toplevel
    ds = pydicom.dcmread(BytesIO(stripped))
    assert (0xFFFC, 0xFFFC) not in ds and (0x7FE0, 0x0010) in ds
    assert watch.dataset_digest(stripped) != watch.dataset_digest(data)


def test_identical_counts_each_sent_data_set_once(tmp_path):
    with open(get_testdata_file('CT_small.dcm'), 'rb') as handle:
        data = benchlib.without_trailing_padding(handle.read())
    other = data[:-1] + bytes([data[-1] ^ 1])
    for name, content in (('one', data), ('copy', data), ('changed', other), ('junk', b'not dicom')):
        (tmp_path / name).write_bytes(content)
    checked, same = watch.identical(watch.files_under(str(tmp_path)), [watch.dataset_digest(data)])
    assert (checked, same) == (4, 1)


def test_count_filed_walks_only_the_study(tmp_path):
    for study, files in (('1.2.3', 3), ('1.2.4', 5)):
        series = tmp_path / 'P-NAME' / ('DESC-20261129-%s' % study) / 'SERIES.1-x'
        series.mkdir(parents=True)
        for i in range(files):
            (series / ('%05d-uid.dcm' % i)).write_bytes(b'x')
        (series / '.00009-uid.dcm.pacsgate-tmp').write_bytes(b'x')
        (series / 'series.info').write_text('')
    assert watch.count_filed(str(tmp_path), '1.2.3') == (3, 1)


def test_the_synthetic_archive_reads_as_the_health_reader_expects(tmp_path):
    data, tmp, log = (str(tmp_path / d) for d in ('data', 'tmp', 'log'))
    for d in (data, tmp, log):
        os.mkdir(d)
    res = subprocess.run([sys.executable, os.path.join(PERF, 'synth.py'), data, tmp, log, '--patients', '2',
                          '--studies', '1', '--series', '2', '--instances', '3', '--filed', '4', '--queued', '2',
                          '--incoming', '1', '--quarantined', '1'], capture_output=True, text=True, check=True)
    out = json.loads(res.stdout)
    assert out['instances'] == 12
    assert sum(1 for _p in watch.files_under(data, '.dcm')) == 12
    health = records.health(tmp, log)
    assert health['filed_kept'] == 4
    # Incoming dirs whose lock is free are over and waiting, like the queue's.
    assert (health['queued'], health['receiving']) == (3, 0)
    assert health['quarantined_instances'] == 1 and health['complete']
    with open(os.path.join(tmp, 'filed', sorted(os.listdir(os.path.join(tmp, 'filed')))[0],
                           '.pacsgate-record.json')) as handle:
        record = json.load(handle)
    assert record['instances'] == len(record['files']) == 3
    # A second run finds the archive in place and adds only association dirs.
    subprocess.run([sys.executable, os.path.join(PERF, 'synth.py'), data, tmp, log, '--patients', '2', '--studies',
                    '1', '--series', '2', '--instances', '3', '--filed', '1'], capture_output=True, check=True)
    assert sum(1 for _p in watch.files_under(data, '.dcm')) == 12
