"""px-listen per association, pfdcm's documented mode (dicom_listener_receiver: px-listen), kept
selectable: the gate execs px-listen through the lean launcher, which imports neither the pypx
subcommands, pudb nor pydicom before storescp runs; and the filer files exactly what px-listen
files: the same study, filed once each way, gives the same tree, .info files and maps, and the same
data sets. (Not the same bytes: px-listen's storescp decodes and encodes each data set again, and
may drop its group lengths; the filer's keeps the bytes the sender sent.)"""

import json
import os
import time

import pytest

from harness import FULL_HOST_ONLY, SENDER_AET, dcmtk, dicomstudy, filed_instances, run_playbook

# Expensive (two converges): on the Debian 12 gateway only.
testinfra_hosts = FULL_HOST_ONLY

pytestmark = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")

LAUNCHER = "/usr/local/libexec/pacsgate/px_listen_lean.py"
RULES = "/etc/pacsgate/dicomlistener.gate"
# What `import pypx` (pypx/__init__.py) and pudb pull in, and px-listen does not need to receive.
AVOIDED = ("aiohttp", "dask", "pfstate", "pudb", "urwid", "pypx.find", "pypx.repack", "pydicom")

# The tree of one patient as filed, read on the gateway with the venv's pydicom: relative paths;
# each DICOM file as the digest of its data set's decoded elements (group lengths and trailing padding
# left out, which px-listen's storescp drops); .info and
# map files with the data dir's absolute path replaced, so that trees filed at different times compare.
_TREE = r"""
import hashlib, json, os, sys
import pydicom
data, log, patient = sys.argv[1:4]


def decoded(body):
    def strip(value):
        if isinstance(value, dict):
            return dict((k, strip(v)) for k, v in value.items()
                        if not (len(k) == 8 and k.endswith('0000')) and k != 'FFFCFFFC')
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value
    elements = pydicom.dcmread(pydicom.filebase.DicomBytesIO(body)).to_json_dict(bulk_data_threshold=1 << 30)
    return 'data set ' + hashlib.sha256(json.dumps(strip(elements), sort_keys=True).encode()).hexdigest()


tree = {}
top = None
for name in os.listdir(data):
    if name.startswith(patient + '-'):
        top = os.path.join(data, name)
for root, dirs, files in os.walk(top):
    for name in files:
        path = os.path.join(root, name)
        with open(path, 'rb') as handle:
            body = handle.read()
        key = os.path.relpath(path, data)
        tree[key] = (body.decode().replace(data, 'DATA') if name.endswith(('.info', '.series'))
                     else decoded(body) if name.endswith('.dcm') else hashlib.sha256(body).hexdigest())
for kind in ('patient_map', 'study_map', 'series_map'):
    for name in os.listdir(os.path.join(log, kind)):
        with open(os.path.join(log, kind, name)) as handle:
            text = handle.read()
        if top in text:
            tree[kind + '/' + name] = text.replace(data, 'DATA')
print(json.dumps(tree, sort_keys=True))
"""


def tree_of(host, gw, patient_id):
    out = host.run("%s/bin/python -c %s %s %s %s", gw["venv_dir"], _TREE, gw["data_dir"], gw["log_dir"], patient_id)
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)


def forget(host, gw, tree, patient_id):
    """Remove a patient's filed tree and its map files, as root, so that it can be filed again."""
    host.run("rm -rf %s/%s-*", gw["data_dir"], patient_id)
    for key in tree:
        if key.split("/")[0].endswith("_map"):
            host.run("rm -f %s/%s", gw["log_dir"], key)


def send_and_wait(host, gw, study_dir, manifest, expected):
    res = dcmtk("storescu", "-aet", SENDER_AET, "-aec", gw["aetitle"], "+sd", gw["ip"], str(gw["port"]), study_dir)
    assert res.returncode == 0, res.stderr
    filed = {}
    for _attempt in range(90):
        filed = filed_instances(host, gw["data_dir"], manifest["study_uid"])
        if len(filed) >= expected:
            break
        time.sleep(1)
    return filed


@pytest.fixture(scope="module")
def px_listen_mode(host, gw):
    """The gateway converged with dicom_listener_receiver: px-listen; converged back afterwards."""
    _out, recap = run_playbook("pacsgate.listener.site", "-e", "dicom_listener_receiver=px-listen")
    assert "failed=0" in recap, recap
    yield
    _out, recap = run_playbook("pacsgate.listener.site")
    assert "failed=0" in recap, recap


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("both-ways")
    manifest = dicomstudy.make_study(str(out), series=2, per_series=15, description="BOTH WAYS")
    return str(out), manifest


def test_the_gate_execs_px_listen_through_the_launcher(host, gw, px_listen_mode):
    rules = host.file(RULES).content_string.splitlines()
    assert "exec %s/bin/python" % gw["venv_dir"] in rules
    assert ["arg -I", "arg " + LAUNCHER, "arg --headers-only"] == [r for r in rules if r.startswith("arg ")][:3]
    assert not [r for r in rules if r.startswith(("incoming ", "output-option "))]
    launcher = host.file(LAUNCHER)
    assert (launcher.user, launcher.group, launcher.mode) == ("root", "root", 0o644)


def importtime(host, gw, *args):
    """Modules one start of `python -I -X importtime ARGS` imports, as the listener's user."""
    res = host.run("cd / && runuser -u %s -- %s/bin/python -I -X importtime %s" % (
        gw["user"], gw["venv_dir"], " ".join(args)))
    names = set()
    for line in res.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return res, names


def test_launcher_avoids_the_heavy_imports(host, gw, px_listen_mode):
    res, names = importtime(host, gw, LAUNCHER, "--headers-only", "--version")
    assert "Version: 1.2.0" in res.stdout, res.stderr[-2000:]
    # (importtime lists what import statements load: pypx.listen's own imports of pypx.utils and
    # pfmisc.debug's of pfmisc.message show that the real modules ran.)
    assert {"pypx.utils", "pfmisc.message", "terminaltables", "rpudb"} <= names, sorted(names)
    assert not names & set(AVOIDED), sorted(names & set(AVOIDED))
    # The same measurement on px-listen itself sees every one: the check above can fail.
    res, names = importtime(host, gw, os.path.join(gw["venv_dir"], "bin", "px-listen"), "--version")
    assert set(AVOIDED) <= names, sorted(set(AVOIDED) - names)


def test_venv_is_compiled(host, gw):
    # The listener's user cannot write bytecode into the venv: every module must be compiled.
    assert host.run("runuser -u %s -- test -w %s/bin", gw["user"], gw["venv_dir"]).rc != 0
    script = ("import importlib.util, pathlib, sys; "
              "m = [p for p in pathlib.Path(sys.argv[1]).rglob('*.py') "
              "if not pathlib.Path(importlib.util.cache_from_source(str(p))).exists()]; "
              "print(len(m)); print(*m[:5])")
    res = host.run("%s/bin/python -c %s %s/lib", gw["venv_dir"], script, gw["venv_dir"])
    assert res.rc == 0 and res.stdout.split()[0] == "0", res.stdout


def test_wrapper_drops_storescp_debug_flag(host, px_listen_mode):
    # px-listen runs WRAPPER -id -od DIR -pm -sp -d; the wrapper must pass on all but -d.
    wrapper = "/usr/local/libexec/pacsgate/dicomlistener-storescp"
    res = host.run("sh -x %s -id -od /nonexistent -pm -sp -d --version", wrapper)
    exec_line = [line for line in res.stderr.splitlines() if line.startswith("+ exec ")]
    assert exec_line, res.stderr
    argv = exec_line[-1].split()
    assert argv[-6:] == ["-id", "-od", "/nonexistent", "-pm", "-sp", "--version"], argv
    assert "-d" not in argv and "--aetitle" in argv


def test_px_listen_and_the_filer_file_the_same_tree(host, gw, px_listen_mode, study):
    """The study filed by px-listen, then (its tree and maps removed) the same files filed by the
    filer: identical relative paths, file contents, .info and map files."""
    study_dir, manifest = study
    expected = sum(len(uids) for uids in manifest["series"].values())
    assert len(send_and_wait(host, gw, study_dir, manifest, expected)) == expected
    by_px_listen = tree_of(host, gw, manifest["patient_id"])
    assert sum(1 for key in by_px_listen if key.endswith(".dcm")) == expected
    forget(host, gw, by_px_listen, manifest["patient_id"])
    # Back to the filer (the fixture's teardown converges again, changing nothing).
    _out, recap = run_playbook("pacsgate.listener.site")
    assert "failed=0" in recap, recap
    assert len(send_and_wait(host, gw, study_dir, manifest, expected)) == expected
    by_filer = tree_of(host, gw, manifest["patient_id"])
    assert sorted(by_filer) == sorted(by_px_listen)
    assert by_filer == by_px_listen
