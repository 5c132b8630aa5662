"""The lean px-listen launcher, run by the Python of a throw-away virtualenv holding stand-ins
for pypx, pfmisc, pudb and pydicom whose package __init__ files fail when run."""

import fcntl
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import types
import venv

import pytest

LAUNCHER = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'plugins', 'module_utils', 'px_listen_lean.py')

FILES = {
    # Running any of these __init__ files is what the launcher must avoid.
    'pypx/__init__.py': 'raise RuntimeError("pypx/__init__.py ran")\n',
    'pfmisc/__init__.py': 'raise RuntimeError("pfmisc/__init__.py ran")\n',
    'pypx/utils.py': 'def sanitize(value):\n    return str(value)\n',
    'pypx/listen.py': '''
        import json, sys
        import pydicom
        import pypx.utils
        import pudb
        from pudb.remote import set_trace
        import pfmisc

        class Listen:
            def __init__(self, args):
                self.args = args
                self.debug = pfmisc.debug(verbosity=0)
                # Before storescp would run: pydicom must still be the stand-in.
                self.pydicom_deferred = getattr(sys.modules['pydicom'], '__pacsgate_stub__', False)

            def run(self):
                read = pydicom.dcmread('/received/file.dcm')
                print(json.dumps({
                    'args': self.args, 'pydicom_deferred': self.pydicom_deferred, 'read': read,
                    'pydicom_real': getattr(sys.modules['pydicom'], 'REAL', False),
                    'pudb_stub': getattr(sys.modules['pudb'], '__pacsgate_stub__', False),
                    'set_trace': set_trace(),
                }))
    ''',
    'pfmisc/_colors.py': 'class Colors:\n    CYAN = YELLOW = NO_COLOUR = LIGHT_GREEN = PURPLE = ""\n',
    # Like pfmisc's logger, which calls inspect.stack() (and so inspect.getmodule()) per message.
    'pfmisc/debug.py': 'import inspect\nimport pudb\n\nclass debug:\n    def __init__(self, **kwargs):\n'
                       '        self.caller = inspect.stack()[1][3]\n',
    'pudb/__init__.py': 'def set_trace(*a, **k):\n    return "real pudb"\n',
    'pudb/remote.py': 'def set_trace(*a, **k):\n    return "real pudb.remote"\n',
    'pydicom/__init__.py': 'REAL = True\n\ndef dcmread(fp, *args, **kwargs):\n    return {"fp": fp, "kwargs": kwargs}\n',
    'terminaltables/__init__.py': 'class SingleTable:\n    pass\n',
    'rpudb.py': 'def set_trace(*a, **k):\n    pass\n',
}

# The shape of pypx's bin/px-listen: its imports, its options, then pypx.listen(vars(args)).
PX_LISTEN = '''
    import sys, os
    from argparse import ArgumentParser
    from terminaltables import SingleTable
    from pfmisc._colors import Colors
    import pypx
    import pudb
    from pudb.remote import set_trace
    import rpudb
    import pfmisc
    parser = ArgumentParser()
    parser.add_argument('-t', '--tmpdir', dest='tmp_directory', default='/tmp')
    parser.add_argument('-l', '--logdir', dest='log_directory', default='/tmp/log')
    parser.add_argument('-d', '--datadir', dest='data_directory', default='/tmp/data')
    parser.add_argument('-e', '--executable', dest='executable', default='/usr/bin/storescp')
    parser.add_argument('--version', dest='b_version', action='store_true')
    args = parser.parse_args()
    if args.b_version:
        print("Version: 1.2.0")
        sys.exit(1)
    pypx.listen(vars(args))
'''


@pytest.fixture(scope='module')
def fake_venv(tmp_path_factory):
    root = tmp_path_factory.mktemp('venv')
    venv.EnvBuilder(with_pip=False, symlinks=True).create(str(root))
    site = os.path.join(str(root), 'lib', 'python%d.%d' % sys.version_info[:2], 'site-packages')
    for name, text in FILES.items():
        path = os.path.join(site, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write(textwrap.dedent(text))
    with open(os.path.join(str(root), 'bin', 'px-listen'), 'w') as handle:
        handle.write('#!%s/bin/python\n' % root + textwrap.dedent(PX_LISTEN))
    return root, site


def launch(fake_venv, *args):
    root = fake_venv[0]
    return subprocess.run([os.path.join(str(root), 'bin', 'python'), '-I', LAUNCHER] + list(args),
                          capture_output=True, text=True, cwd='/', timeout=60, check=False)


def test_runs_px_listen_without_the_package_inits(fake_venv):
    res = launch(fake_venv, '-t', '/srv/tmp', '-l', '/srv/log', '-d', '/srv/data', '-e', '/srv/storescp')
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out['args'] == {'tmp_directory': '/srv/tmp', 'log_directory': '/srv/log',
                           'data_directory': '/srv/data', 'executable': '/srv/storescp', 'b_version': False}
    # pydicom is imported only when the filing pass first uses it, and then it is the real one.
    assert out['pydicom_deferred'] is True and out['pydicom_real'] is True
    # Without --headers-only, dcmread is called exactly as pypx calls it.
    assert out['read'] == {'fp': '/received/file.dcm', 'kwargs': {}}
    # pudb stays a stand-in until its set_trace is called, which then reaches the real one.
    assert out['pudb_stub'] is True and out['set_trace'] == 'real pudb.remote'


def test_headers_only_reads_the_filing_attributes_without_pixels(fake_venv):
    res = launch(fake_venv, '--headers-only', '-t', '/srv/tmp')
    assert res.returncode == 0, res.stderr
    kwargs = json.loads(res.stdout)['read']['kwargs']
    assert kwargs['stop_before_pixels'] is True
    assert {'PatientID', 'PatientName', 'StudyInstanceUID', 'SeriesInstanceUID', 'SOPInstanceUID',
            'InstanceNumber', 'StudyDescription', 'SeriesDescription', 'StudyDate', 'SeriesDate'} \
        <= set(kwargs['specific_tags'])


def test_version_is_px_listens(fake_venv):
    res = launch(fake_venv, '--version')
    assert res.returncode == 1 and res.stdout.strip() == 'Version: 1.2.0', res.stderr


def test_plain_px_listen_would_run_the_package_init(fake_venv):
    # The stand-ins are strict: px-listen itself fails on them, so the tests above can fail.
    root = fake_venv[0]
    res = subprocess.run([os.path.join(str(root), 'bin', 'python'), '-I', os.path.join(str(root), 'bin', 'px-listen')],
                         capture_output=True, text=True, cwd='/', timeout=60, check=False)
    assert res.returncode != 0 and 'pfmisc/__init__.py ran' in res.stderr


def test_check_imports(fake_venv):
    res = launch(fake_venv, '--headers-only', '--check-imports')
    assert (res.returncode, res.stdout.strip()) == (0, 'avoided modules loaded: none'), res.stderr


def test_check_imports_reports_an_avoided_module(fake_venv):
    site = fake_venv[1]
    colors = os.path.join(site, 'pfmisc', '_colors.py')
    with open(colors) as handle:
        original = handle.read()
    os.makedirs(os.path.join(site, 'dask'), exist_ok=True)
    open(os.path.join(site, 'dask', '__init__.py'), 'w').close()
    try:
        with open(colors, 'w') as handle:
            handle.write('import dask\n' + original)
        res = launch(fake_venv, '--check-imports')
    finally:
        with open(colors, 'w') as handle:
            handle.write(original)
    assert (res.returncode, res.stdout.strip()) == (1, 'avoided modules loaded: dask'), res.stderr


def load_launcher():
    spec = importlib.util.spec_from_file_location('px_listen_lean_under_test', LAUNCHER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_filing_waits_for_an_exclusive_lock_once_storescp_returns(tmp_path):
    lean = load_launcher()
    listen = types.ModuleType('listen_under_test')
    listen.subprocess = subprocess
    lock = tmp_path / lean.FILING_LOCK

    class Listen:
        def __init__(self, args):
            self.log_directory = args['log_directory']

        def run(self):
            assert not lock.exists()  # receiving: no lock yet
            listen.subprocess.run(['true'], check=True)  # storescp has returned: filing starts
            return lock.exists()

    listen.Listen = Listen
    lean.one_filing_at_a_time(listen)
    assert listen.Listen({'log_directory': str(tmp_path)}).run() is True
    with open(str(lock)) as other:
        # Another association's filing pass would wait here.
        with pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    # Everything else in subprocess is the real thing.
    assert listen.subprocess.check_output(['echo', 'x']) == b'x\n'
    assert subprocess.run.__module__ == 'subprocess'


# The storescp command pypx.listen builds, run without a shell ---------------------------------------

def test_storescp_argv_accepts_only_pypx_s_command_shape():
    lean = load_launcher()
    exe, out = '/usr/bin/storescp', '/home/dicom/tmp/0b8f3d4e-1a2b-4c3d-8e4f-5a6b7c8d9e0f'
    command = '%s -id -od %s -pm -sp -d >%s/debug.log' % (exe, out, out)
    expected = ([exe, '-id', '-od', out, '-pm', '-sp', '-d'], out + '/debug.log')
    assert lean.storescp_argv(command, exe, out) == expected
    assert lean.storescp_argv(command) == expected  # the words, when the Listen is not known
    spaced = '/srv/my tmp/$(touch x)'
    assert lean.storescp_argv('%s -id -od %s -pm -sp -d >%s/debug.log' % (exe, spaced, spaced), exe, spaced)[0][3] == spaced
    for bad in (command + '; rm -rf /', command.replace(' -pm', ''), command.replace('debug.log', 'other.log'),
                '%s -id -od %s -pm -sp -d >/etc/passwd' % (exe, out), 'echo hi', '',
                '%s -id -od %s -pm -sp -d >%s/debug.log' % (exe, spaced, spaced)):
        with pytest.raises(ValueError):
            lean.storescp_argv(bad)
    with pytest.raises(ValueError):
        lean.storescp_argv(command, '/usr/bin/other', out)
    with pytest.raises(ValueError):
        lean.storescp_argv(['storescp'])


FAKE_STORESCP = '''#!/bin/sh
# A stand-in for storescp: records its argv (one per line) and writes a line to stdout and stderr.
for arg do printf '%s\\n' "$arg"; done > "$(dirname "$0")/argv.txt"
echo "storescp output"
echo "storescp diagnostics" >&2
'''


def fake_listen_module(tmp_path, lean, uuid_directory):
    storescp = tmp_path / 'bin' / 'storescp'
    storescp.parent.mkdir()
    storescp.write_text(FAKE_STORESCP)
    storescp.chmod(0o755)
    listen = types.ModuleType('listen_under_test')
    listen.subprocess = subprocess

    class Listen:
        def __init__(self, args):
            self.log_directory = args['log_directory']
            self.executable = str(storescp)
            self.uuid_directory = uuid_directory
            os.makedirs(uuid_directory)

        def run(self):
            command = self.executable + ' -id -od ' + self.uuid_directory + ' -pm -sp -d >' + self.uuid_directory + '/debug.log'
            return listen.subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, shell=True)

    listen.Listen = Listen
    lean.hold_association_lock(listen)
    lean.one_filing_at_a_time(listen)
    return listen, storescp


def test_the_storescp_command_runs_as_an_argv_list_without_a_shell(tmp_path):
    lean = load_launcher()
    uuid_directory = str(tmp_path / 'tmp $(touch INJECTED)' / '0b8f3d4e-1a2b-4c3d-8e4f-5a6b7c8d9e0f')
    listen, storescp = fake_listen_module(tmp_path, lean, uuid_directory)
    (tmp_path / 'log').mkdir()
    result = listen.Listen({'log_directory': str(tmp_path / 'log')}).run()
    assert result.returncode == 0
    argv = (storescp.parent / 'argv.txt').read_text().splitlines()
    assert argv == ['-id', '-od', uuid_directory, '-pm', '-sp', '-d']
    with open(os.path.join(uuid_directory, 'debug.log')) as handle:
        assert handle.read() == 'storescp output\n'
    assert result.stderr == b'storescp diagnostics\n'  # captured, as the shell's stderr was
    assert not list(tmp_path.rglob('INJECTED'))


def test_any_other_shell_command_is_refused(tmp_path):
    lean = load_launcher()
    listen, _storescp = fake_listen_module(tmp_path, lean, str(tmp_path / 'tmp' / 'uuid'))
    (tmp_path / 'log').mkdir()
    listen.Listen({'log_directory': str(tmp_path / 'log')})
    with pytest.raises(RuntimeError):
        listen.subprocess.run('touch %s' % (tmp_path / 'ran'), shell=True)
    assert not (tmp_path / 'ran').exists()


def test_the_association_lock_is_held_from_listen_init_on(tmp_path):
    lean = load_launcher()
    uuid_directory = str(tmp_path / 'tmp' / 'uuid')
    listen, _storescp = fake_listen_module(tmp_path, lean, uuid_directory)
    (tmp_path / 'log').mkdir()
    listen.Listen({'log_directory': str(tmp_path / 'log')})
    with open(os.path.join(uuid_directory, '.lock')) as other:
        with pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    for fd in lean.HELD_LOCKS:
        os.close(fd)
    with open(os.path.join(uuid_directory, '.lock')) as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


# The real px-listen, through the launcher ------------------------------------------------------------

REAL_STORESCP = '''#!{python}
"""storescp's stand-in for a real px-listen run: reports its argv and whether the uuid dir's lock is held,
and 'receives' one CT instance into a -sp subdir."""
import fcntl, json, os, sys
import pydicom
from pydicom.data import get_testdata_file
output = sys.argv[sys.argv.index('-od') + 1]
with open(os.path.join(output, '.lock')) as handle:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock = 'free'
    except OSError:
        lock = 'held'
os.makedirs(os.path.join(output, 'CT_20261201'))
ds = pydicom.dcmread(get_testdata_file('CT_small.dcm'))
ds.save_as(os.path.join(output, 'CT_20261201', 'CT.' + ds.SOPInstanceUID), enforce_file_format=True)
print('received 1')
with open({report!r}, 'w') as handle:
    json.dump({{'argv': sys.argv, 'lock': lock}}, handle)
'''


def test_real_px_listen_through_the_launcher(tmp_path):
    pytest.importorskip('pypx')  # pinned in requirements.txt: present wherever the unit tests run
    root = tmp_path / 'gw $(touch INJECTED)'
    shim = tmp_path / 'shim'
    shim.mkdir()
    (shim / 'rpudb.py').write_text('def set_trace(*args, **kwargs):\n    raise RuntimeError("stand-in")\n')
    storescp = tmp_path / 'storescp'
    report = tmp_path / 'storescp.json'
    storescp.write_text(REAL_STORESCP.format(python=sys.executable, report=str(report)))
    storescp.chmod(0o755)
    env = dict(os.environ, PYTHONPATH=str(shim))
    res = subprocess.run([sys.executable, LAUNCHER, '-t', str(root / 'tmp'), '-l', str(root / 'log'), '-d', str(root / 'data'),
                          '-e', str(storescp)], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    with open(str(report)) as handle:
        seen = json.load(handle)
    uuid_directory = seen['argv'][seen['argv'].index('-od') + 1]
    assert seen['argv'] == [str(storescp), '-id', '-od', uuid_directory, '-pm', '-sp', '-d']
    assert seen['lock'] == 'held'
    assert os.path.dirname(uuid_directory) == str(root / 'tmp')
    with open(os.path.join(uuid_directory, 'debug.log')) as handle:
        assert handle.read() == 'received 1\n'
    assert len(list((root / 'data').rglob('*.dcm'))) == 1 and list((root / 'data').rglob('series.info'))
    assert not list(tmp_path.rglob('INJECTED'))
    with open(os.path.join(uuid_directory, '.lock')) as handle:  # released when px-listen exited
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_the_filer_imports_pypx_with_the_launchers_own_functions(fake_venv):
    """The filer (the same file is a module of the gateway's package) imports pypx.listen as the
    launcher does, with the launcher's bare_package and deferred_debugger: no package __init__ runs
    and pudb stays a stand-in."""
    from ansible_collections.pacsgate.listener.plugins.module_utils import filer
    collections = os.path.normpath(os.path.join(os.path.dirname(filer.__file__), '..', '..', '..', '..', '..'))
    code = textwrap.dedent('''
        import json, sys
        sys.path.insert(0, sys.argv[1])
        from ansible_collections.pacsgate.listener.plugins.module_utils import filer, px_listen_lean
        listen = filer.pypx_listen()
        pudb = sys.modules['pudb']
        print(json.dumps({'listen': listen.__name__, 'pudb_stub': getattr(pudb, '__pacsgate_stub__', False),
                          'launchers': pudb.set_trace.__module__ == px_listen_lean.__name__}))
    ''')
    res = subprocess.run([os.path.join(str(fake_venv[0]), 'bin', 'python'), '-c', code, collections],
                         capture_output=True, text=True, cwd='/', timeout=60, check=False)
    assert res.returncode == 0, res.stderr  # the stand-ins' pypx and pfmisc __init__ files raise when run
    assert json.loads(res.stdout) == {'listen': 'pypx.listen', 'pudb_stub': True, 'launchers': True}
