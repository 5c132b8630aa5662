"""An air-gapped gateway: pypx came from the shipped wheelhouse with no package index, the
gateway cannot reach PyPI at all, and a PACS on the same internal network gets a study filed.

Runs on the control host with testinfra against the airgap scenario's containers: the study is
generated here and copied into the PACS container, which sends it with dcmtk."""

import hashlib
import os
import re
import socket
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import dicomstudy  # noqa: E402

GATEWAY, PACS = "pacsgate-airgap-gw", "pacsgate-airgap-pacs"
NETWORK, GW_IP = "pacsgate-airgap", "172.30.247.10"
PORT, AET, PACS_AET = 10402, "CHRISLOCAL", "PACSGATE-PACS"
VENV = "/opt/pypx"

testinfra_hosts = ["ansible://" + GATEWAY]


def on(name, command, timeout=600):
    """Run a shell command in one of the scenario's containers."""
    return subprocess.run(["docker", "exec", name, "sh", "-c", command],
                          capture_output=True, text=True, timeout=timeout, check=False)


def networks(name):
    out = subprocess.run(["docker", "inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", name],
                         capture_output=True, text=True, check=True).stdout
    return sorted(out.split())


def normalise(name):
    return re.sub(r"[-_.]+", "_", name).lower()


@pytest.fixture(scope="module")
def pypi_address():
    """An address of pypi.org, resolved and reached from the control host (the control case)."""
    address = socket.getaddrinfo("pypi.org", 443, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    with socket.create_connection((address, 443), timeout=10):
        pass
    return address


def test_containers_are_on_the_internal_network_only():
    for name in (GATEWAY, PACS):
        assert networks(name) == [NETWORK]
    internal = subprocess.run(["docker", "network", "inspect", "-f", "{{.Internal}}", NETWORK],
                              capture_output=True, text=True, check=True).stdout.strip()
    assert internal == "true"


def test_gateway_cannot_reach_pypi(pypi_address):
    # The same address the control host just reached, by TCP, from the gateway.
    probe = ("import socket\n"
             "try:\n"
             "    socket.create_connection(('%s', 443), timeout=5)\n"
             "    print('CONNECTED')\n"
             "except OSError as e:\n"
             "    print('UNREACHABLE', e)\n" % pypi_address)
    res = on(GATEWAY, "python3 -c \"%s\"" % probe.replace('"', '\\"'))
    assert res.stdout.startswith("UNREACHABLE"), res.stdout + res.stderr
    # pip itself, reading no configuration (so not the venv's no-index), asked to fetch from PyPI.
    res = on(GATEWAY, "PIP_CONFIG_FILE=/dev/null %s/bin/pip download --isolated --no-cache-dir --timeout 5 --retries 1 "
                      "--index-url https://pypi.org/simple/ --dest /tmp/pacsgate-airgap-probe six" % VENV,
             timeout=120)
    assert res.returncode != 0
    # With a retry, pip's HTTP client logs why the connection failed.
    assert re.search(r"(Failed to establish a new connection|Temporary failure in name resolution|"
                     r"Name or service not known|Network is unreachable)", res.stdout + res.stderr), res.stderr


def test_pip_uses_only_the_wheelhouse(host):
    conf = host.file(VENV + "/pip.conf").content_string
    assert "no-index = true\n" in conf
    assert "find-links = %s/wheelhouse\n" % VENV in conf
    assert host.file(VENV + "/wheelhouse").is_directory
    # The archive the controller shipped, unpacked.
    with open(os.environ["PACSGATE_WHEELHOUSE"], "rb") as f:
        assert host.file(VENV + "/wheelhouse.tar").sha256sum == hashlib.sha256(f.read()).hexdigest()


def test_pypx_and_every_dependency_came_from_the_wheelhouse(host):
    shipped = {normalise(w.split("-")[0]) + "==" + w.split("-")[1]
               for w in host.run("ls %s/wheelhouse", VENV).stdout.split() if w.endswith(".whl")}
    installed = host.run("%s/bin/pip list --format=freeze", VENV)
    assert installed.rc == 0, installed.stderr
    pins = {normalise(p.split("==")[0]) + "==" + p.split("==")[1] for p in installed.stdout.split()}
    assert "pypx==3.12.6" in pins
    # pip and setuptools come with the venv; everything else pip installed from the wheelhouse.
    extra = {p for p in pins - shipped if p.split("==")[0] not in ("pip", "setuptools")}
    assert extra == set()


def test_listener_answers_the_pacs():
    res = on(PACS, "echoscu -aet %s -aec %s %s %d" % (PACS_AET, AET, GW_IP, PORT), timeout=60)
    assert res.returncode == 0, res.stderr


def test_study_from_the_pacs_is_filed(tmp_path):
    study = dicomstudy.make_study(str(tmp_path / "study"), series=2, per_series=30)
    expected = sum(len(v) for v in study["series"].values())
    on(PACS, "rm -rf /srv/dicom && mkdir -p /srv/dicom")
    subprocess.run(["docker", "cp", str(tmp_path / "study"), PACS + ":/srv/dicom/study"], check=True)
    res = on(PACS, "TCP_NODELAY=1 storescu -aet %s -aec %s +sd %s %d /srv/dicom/study"
             % (PACS_AET, AET, GW_IP, PORT))
    assert res.returncode == 0, res.stderr
    count = "find /home/dicom/data -path '*%s*' -name '*.dcm' | wc -l" % study["study_uid"]
    filed = 0
    for _second in range(120):
        filed = int(on(GATEWAY, count).stdout.strip() or 0)
        if filed >= expected:
            break
        on(GATEWAY, "sleep 1")
    assert filed == expected
