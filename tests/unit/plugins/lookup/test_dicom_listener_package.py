"""The lookup dicom_listener_package: every module_utils file, byte for byte, plus __init__.py."""

import os

import pytest
from ansible.errors import AnsibleLookupError

from ansible_collections.pacsgate.listener.plugins.lookup import dicom_listener_package as lookup


def test_every_module_utils_file_as_it_is(tmp_path):
    entries = lookup.package_files('/opt/pypx/lib/python3.11/site-packages/pacsgate_listener')
    names = [os.path.basename(e['dest']) for e in entries]
    expected = sorted(n for n in os.listdir(lookup.MODULE_UTILS) if n.endswith('.py') and n != '__init__.py')
    assert names == ['__init__.py'] + expected and 'filer.py' in names and 'records.py' in names
    for entry in entries[1:]:
        with open(os.path.join(lookup.MODULE_UTILS, os.path.basename(entry['dest']))) as handle:
            assert entry['content'] == handle.read()  # trailing newline and all
    assert all(e['dest'].startswith('/opt/pypx/lib/python3.11/site-packages/pacsgate_listener/') for e in entries)


def test_the_package_imports_as_installed(tmp_path):
    """Installed as the entries say, the package imports (relative imports between its modules)."""
    import subprocess
    import sys
    package = tmp_path / 'pacsgate_listener'
    package.mkdir()
    for entry in lookup.package_files(str(package)):
        with open(entry['dest'], 'w') as handle:
            handle.write(entry['content'])
    res = subprocess.run([sys.executable, '-I', '-c', 'import sys; sys.path.insert(0, sys.argv[1]); '
                          'import pacsgate_listener.filer, pacsgate_listener.records, pacsgate_listener.metrics',
                          str(tmp_path)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr


def test_a_relative_directory_is_refused():
    with pytest.raises(AnsibleLookupError):
        lookup.package_files('site-packages/pacsgate_listener')
