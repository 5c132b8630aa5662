"""DICOM over TLS (dicom_listener_tls): storescp speaks TLS behind the gate, with the listener's
certificate and key from the controller and client certificates checked against a CA. The declared
PACS with a certificate that CA signed is served; a plain client and one whose certificate another
CA signed are refused; the verify step and the module's C-ECHO speak TLS. Converged back to plain
DICOM afterwards."""

import json
import os
import subprocess

import pytest

import dicomstudy
from harness import count, run_playbook

GATEWAY, PACS = "pacsgate-security-gw", "pacsgate-security-pacs"
GW_IP, PORT, AET = "172.30.250.10", 10402, "CHRISLOCAL"

testinfra_hosts = ["ansible://" + GATEWAY]

pytestmark = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_ca(directory, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=%s" % name,
            "-keyout", "%s.key" % name, "-out", "%s.crt" % name, cwd=directory)


def make_cert(directory, name, ca, ip=None):
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=%s" % name,
            "-keyout", "%s.key" % name, "-out", "%s.csr" % name, cwd=directory)
    extensions = os.path.join(directory, "%s.ext" % name)
    with open(extensions, "w") as handle:
        handle.write("subjectAltName = IP:%s\n" % ip if ip else "basicConstraints = CA:FALSE\n")
    openssl("x509", "-req", "-in", "%s.csr" % name, "-CA", "%s.crt" % ca, "-CAkey", "%s.key" % ca,
            "-CAcreateserial", "-days", "30", "-extfile", extensions, "-out", "%s.crt" % name, cwd=directory)


def on(name, command):
    return subprocess.run(["docker", "exec", name, "sh", "-c", command],
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def tls_gateway(tmp_path_factory):
    """The gateway converged with TLS, client certificates required; the PACS holds a good and a
    rogue client certificate. Converged back to plain DICOM at the end."""
    pki = str(tmp_path_factory.mktemp("pki"))
    make_ca(pki, "hospital-ca")
    make_ca(pki, "rogue-ca")
    make_cert(pki, "gateway", "hospital-ca", ip=GW_IP)
    make_cert(pki, "pacs", "hospital-ca")
    make_cert(pki, "rogue", "rogue-ca")
    on(PACS, "rm -rf /srv/tls && mkdir -p /srv/tls")
    for name in ("hospital-ca.crt", "pacs.key", "pacs.crt", "rogue.key", "rogue.crt"):
        subprocess.run(["docker", "cp", os.path.join(pki, name), PACS + ":/srv/tls/" + name], check=True)
    settings = {"dicom_listener_tls": True, "dicom_listener_tls_cert": os.path.join(pki, "gateway.crt"),
                "dicom_listener_tls_key": os.path.join(pki, "gateway.key"),
                "dicom_listener_tls_client_ca": os.path.join(pki, "hospital-ca.crt")}
    out, recap = run_playbook("pacsgate.listener.site", "-e", json.dumps(settings), limit=GATEWAY)
    assert "failed=0" in recap, out[-3000:]
    yield out
    _out, recap = run_playbook("pacsgate.listener.site", limit=GATEWAY)
    assert "failed=0" in recap, recap


def echo(tls_args):
    return on(PACS, "echoscu %s -aet PACSGATE-PACS -aec %s -to 10 %s %d" % (tls_args, AET, GW_IP, PORT))


def test_the_verify_step_spoke_tls(tls_gateway):
    assert "answers C-ECHO" in tls_gateway


def test_the_key_is_readable_by_the_listener_only(host):
    key = host.file("/etc/pacsgate/tls/dicomlistener.key")
    assert (key.user, key.group, key.mode) == ("root", "dicom", 0o440)
    assert host.run("runuser -u nobody -- cat /etc/pacsgate/tls/dicomlistener.key").rc != 0


def test_a_client_certificate_the_ca_signed_is_served(tls_gateway):
    res = echo("+tls /srv/tls/pacs.key /srv/tls/pacs.crt +cf /srv/tls/hospital-ca.crt")
    count("TLS associations", good_certificate_tried=1, good_certificate_served=int(res.returncode == 0))
    assert res.returncode == 0, res.stdout + res.stderr


def test_a_plain_client_is_refused(tls_gateway):
    res = echo("")
    count("TLS associations", plain_tried=1, plain_refused=int(res.returncode != 0))
    assert res.returncode != 0


def test_a_certificate_another_ca_signed_is_refused(tls_gateway):
    res = echo("+tls /srv/tls/rogue.key /srv/tls/rogue.crt +cf /srv/tls/hospital-ca.crt")
    count("TLS associations", untrusted_tried=1, untrusted_refused=int(res.returncode != 0))
    assert res.returncode != 0


def test_a_study_over_tls_is_filed(tls_gateway, tmp_path):
    manifest = dicomstudy.make_study(str(tmp_path), series=1, per_series=10)
    subprocess.run(["docker", "cp", str(tmp_path), PACS + ":/srv/tls-study"], check=True)
    res = on(PACS, "TCP_NODELAY=1 storescu +tls /srv/tls/pacs.key /srv/tls/pacs.crt +cf /srv/tls/hospital-ca.crt "
                   "-aet PACSGATE-PACS -aec %s +sd %s %d /srv/tls-study" % (AET, GW_IP, PORT))
    assert res.returncode == 0, res.stderr
    filed = 0
    for _second in range(60):
        filed = int(on(GATEWAY, "find /home/dicom/data -path '*%s*' -name '*.dcm' | wc -l" % manifest["study_uid"])
                    .stdout.strip() or 0)
        if filed >= 10:
            break
        on(GATEWAY, "sleep 1")
    count("study over TLS", sent=10, filed=filed)
    assert filed == 10


def test_the_module_echo_speaks_tls(host, tls_gateway):
    result = host.ansible("pacsgate.listener.dicom_listener_info", "echo=true", check=False, become=True)
    assert result["echo"]["ok"] is True, result["echo"]
    assert result["tls"]["enabled"] is True and result["tls"]["days_left"] >= 29
