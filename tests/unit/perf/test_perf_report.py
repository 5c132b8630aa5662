"""The benchmark's verdicts (tests/perf/targets.py) and report (tests/perf/report.py), rendered from a
fixed results.json without measuring: every target's verdict, by how much a missed one misses,
the tables, and the block of docs/benchmark.md."""

import copy
import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'perf'))
import report  # noqa: E402  pylint: disable=wrong-import-position
import targets  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(name='results')
def fixture_results():
    with open(os.path.join(HERE, 'results.json')) as handle:
        return json.load(handle)


def by_key(results):
    return {row['key']: row for row in targets.verdicts(results)}


def test_every_target_has_a_verdict(results):
    rows = by_key(results)
    assert list(rows) == ['burst', 'sequential', 'parallel', 'rate', 'filing', 'checks', 'association_memory',
                          'filer_memory', 'second_converge', 'health', 'health_status']
    assert {k: r['ok'] for k, r in rows.items()} == {
        'burst': False, 'sequential': False, 'parallel': False, 'rate': True, 'filing': False, 'checks': True,
        'association_memory': False, 'filer_memory': True, 'second_converge': False, 'health': True,
        'health_status': False}
    for row in rows.values():
        assert row['ok'] or row['by'], row['key']


def test_missed_targets_say_by_how_much(results):
    rows = by_key(results)
    assert rows['burst']['by'] == '10 not filed'
    assert rows['sequential']['by'] == '0.30 x over'
    assert rows['parallel']['by'] == '0.25 x over'
    assert rows['filing']['by'] == '0.20 s over'
    assert rows['association_memory']['by'] == '0.6 MiB over'
    assert rows['second_converge']['by'] == '16.4 s over'
    assert rows['health_status']['by'] == '45.00 s and 180.0 MiB over'
    assert rows['health_status']['measured'] == 'dicom_listener_info (status playbook): 50.00 s, 280.0 MiB'


def test_measured_figures(results):
    rows = by_key(results)
    assert rows['sequential']['measured'].startswith('1.60 x (median 80.0 ms vs 50.0 ms; 4 of 4 filed')
    assert rows['parallel']['measured'] == '1.75 x (70.0 s vs 40.0 s per run)'
    assert rows['rate']['measured'] == '1.00 (500 vs 500 instances/s)'
    assert rows['filing']['measured'] == '0.80/1.20 s (worst of 2 runs; all filed byte for byte)'
    assert rows['checks']['measured'].startswith('1.2 % of the rate on a CPU-bound gateway (40.0 ms of CPU per '
                                                 'association with the checks, 39.5 ms without); the whole gate: '
                                                 '17.5 % (storescp without it: 33.0 ms)')
    assert rows['filer_memory']['measured'].startswith('52.0 MiB peak RSS (VmHWM)')
    assert rows['health']['measured'].startswith('records.health: 0.30 s, 10.2 MiB max RSS (worst of 2 runs, '
                                                 '1,000,000 instances')


def test_reasons_come_from_the_measurements(results):
    rows = by_key(results)
    burst = rows['burst']['why']
    assert 'refused disk 2' in burst and 'service_limit' in burst and 'Failed to establish' in burst
    seq = rows['sequential']['why']
    assert 'median 70.0 ms (1.40 x bare)' in seq
    assert 'a storescp start costs 26.0 ms of CPU, 14.0 ms of it reading' in seq
    assert '40.0 ms for the gate and storescp, 15.0 ms for a forking storescp' in seq
    assert 'plus 6.0 ms in the filer' in seq
    second = rows['second_converge']['why']
    assert 'yet 58 tasks run (and 51 are skipped)' in second
    assert '3 of them' in second and '1.77 s each' in second and '5.3 s together' in second
    assert second.endswith('(CPU pressure 60 % during the converges)')
    assert rows['filing']['why'].endswith('it used 0.95 s of CPU per run, which took 0.80-1.20 s while tasks '
                                          'waited for a CPU 60 % of the time (CPU pressure)')


@pytest.mark.parametrize('b_median, ok', [(0.065, True), (0.0651, False)])
def test_sequential_limit_is_inclusive(results, b_median, ok):
    results['sections']['sequential']['rows']['b']['median_s'] = b_median
    assert by_key(results)['sequential']['ok'] is ok


def test_not_all_filed_misses_whatever_the_speed(results):
    rows = results['sections']['sequential']['rows']
    rows['b']['median_s'] = rows['a']['median_s']
    rows['b']['identical'] = 3
    assert by_key(results)['sequential']['by'] == '1 not filed'
    for run in results['sections']['parallel']['runs']:
        if run['receiver'] == 'b':
            run['until_filed_s'] = 1.0
    results['sections']['parallel']['runs'][1]['complete'] = False
    row = by_key(results)['parallel']
    assert (row['ok'], row['by']) == (False, 'not all filed')


def test_changed_tasks_miss_the_converge_target(results):
    second = results['sections']['ansible']['second_converge']
    second['wall_s'] = 10.0
    second['recap']['gw']['changed'] = 2
    row = by_key(results)['second_converge']
    assert (row['ok'], row['by']) == (False, 'changed=2')


def test_missing_sections_are_not_measured(results):
    empty = {'started': results['started'], 'machine': results['machine'], 'sections': {}}
    assert all(row['ok'] is None for row in targets.verdicts(empty))
    text = report.report_text(empty)
    rows = [line for line in text.splitlines() if line.endswith('| not measured |')]
    assert len(rows) == len(targets.verdicts(empty))


def test_report_text(results):
    text = report.report_text(results)
    assert text.startswith('# Benchmark report\n')
    assert '| target | measured | reference | verdict |' in text
    assert 'MISSED by 16.4 s over; why: nothing changes' in text
    assert '| (b) the gateway | 1000 | 2.10 | 476 | 0.80 | 1000 of 1000 | 0.50 + filer 0.90 |' in text
    assert '| (c) Orthanc | 60.0 | 60.0 | 1.20 | 3 of 4 | 3 of 4 |' in text
    assert '| (b) the gateway | 69.00 | 69.50 | 1000 of 1000 | 1 | 40.00 + 6.00 | 0.30 / 1.00 |' in text
    assert '190 of 200' in text and 'the gate logged accepted 192, refused disk 2' in text
    assert 'the filer filed each association 1.50 s (median) and at most 9.00 s after it ended, and used 1.50 s' in text
    assert '| pacsgate.listener.dicom_listener : Install dcmtk / and more | 1.90 |' in text
    assert 'records.health (module_utils/records.py) | 1 |' in text and 'gateway.health' not in text
    assert 'pypx\'s per-file mode' in text
    assert 'CPU pressure 60 %' in text


def test_chart_data(results):
    data = report.chart_data(results)
    assert [(label, round(value, 2)) for label, value, _t in data['ratios']] == [
        ('sequential', 1.6), ('4 parallel', 1.75), ('1 association\n(time, 1/rate)', 1.0)]
    assert data['memory'] == [('burst', 3.9, 14.0), ('paced', 8.6, 15.0)]
    assert data['converge'] == [('first', 95.5), ('second', 36.4)]


def test_write_rerenders_the_block_and_only_the_block(results, tmp_path):
    repo = tmp_path / 'repo'
    (repo / 'docs' / 'bench').mkdir(parents=True)
    page = repo / 'docs' / 'benchmark.md'
    page.write_text('# Benchmark\n\nintro\n\n%s\nold figures\n%s\n\nafter\n' % (report.BLOCK_START, report.BLOCK_END))
    out = str(repo / 'docs' / 'bench')
    report.write(results, out, str(repo), draw=False)
    first = page.read_text()
    assert first.startswith('# Benchmark\n\nintro\n\n' + report.BLOCK_START)
    assert first.endswith(report.BLOCK_END + '\n\nafter\n')
    assert 'old figures' not in first
    assert '![benchmark chart](bench/bench.png)' in first and 'Full report: [bench/REPORT.md](bench/REPORT.md).' in first
    assert (repo / 'docs' / 'bench' / 'REPORT.md').read_text() == report.report_text(results)
    report.write(copy.deepcopy(results), out, str(repo), draw=False)
    assert page.read_text() == first


def test_write_elsewhere_leaves_the_page_alone(results, tmp_path):
    repo = tmp_path / 'repo'
    (repo / 'docs').mkdir(parents=True)
    page = repo / 'docs' / 'benchmark.md'
    page.write_text('%s\nold\n%s\n' % (report.BLOCK_START, report.BLOCK_END))
    report.write(results, str(tmp_path / 'trial'), str(repo), draw=False)
    assert page.read_text() == '%s\nold\n%s\n' % (report.BLOCK_START, report.BLOCK_END)
    assert (tmp_path / 'trial' / 'REPORT.md').exists()


def test_a_slower_transfer_names_the_spread_of_the_runs(results):
    runs = results['sections']['one_association']['runs']
    runs[1]['transfer_s'] = 2.5
    row = by_key(results)['rate']
    # b: 2000 instances in 4.4 s against a's 2000 in 4.0 s.
    assert (row['ok'], row['by']) == (False, '4 % below')
    assert row['measured'] == '0.91 (455 vs 500 instances/s)'
    assert '(instances/s: a 500-500, b 400-526)' in row['why']
