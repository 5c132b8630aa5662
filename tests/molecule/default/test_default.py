"""Verifier of the default scenario: the gateway as a PACS and its admin see it."""

import os

import pytest

from harness import SENDER_AET, dcmtk, filing_records, journal_with, xinetd_args


def test_listener_account_has_no_login_shell(host, gw):
    user = host.user(gw["user"])
    assert user.exists
    assert user.group == gw["group"]
    assert user.shell in ("/usr/sbin/nologin", "/sbin/nologin")
    assert user.uid != 0


def test_xinetd_enabled_and_running_under_systemd(host):
    assert host.run("systemctl is-system-running").stdout.strip() in ("running", "degraded")
    assert host.run("readlink /proc/1/exe").stdout.strip().endswith("systemd")
    svc = host.service("xinetd")
    assert svc.is_running
    assert host.run("systemctl is-enabled xinetd").stdout.strip() in ("enabled", "generated")
    assert host.run("ls /etc/rc2.d/").stdout.find("xinetd") >= 0


DROPIN = "/etc/systemd/system/xinetd.service.d/pacsgate-listener.conf"


def test_xinetd_is_stopped_alone_and_runs_with_the_roles_options(host):
    """A restart must never end an association in progress: on every release systemd stops xinetd
    alone (KillMode=process, from the role's drop-in; Debian 13's own unit would kill the whole
    control group). Debian 11 and 12 start xinetd through its init script, which reads
    /etc/default/xinetd; Debian 13's native unit does not, and the drop-in replaces its command."""
    assert host.run("systemctl show --property=KillMode --value xinetd.service").stdout.strip() == "process"
    assert DROPIN in host.run("systemctl show --property=DropInPaths --value xinetd.service").stdout
    unit = host.run("systemctl show --property=FragmentPath --value xinetd.service").stdout.strip()
    args = xinetd_args(host)
    if unit.startswith("/run/systemd/generator"):
        lines = host.file("/etc/default/xinetd").content_string.splitlines()
        assert "INETD_COMPAT=No" in lines and 'XINETD_OPTS="-stayalive"' in lines
        assert "ExecStart" not in host.file(DROPIN).content_string
        assert args[0] == "/usr/sbin/xinetd" and "-stayalive" in args and "-inetd_compat" not in args
    else:
        assert unit.startswith("/usr/lib/systemd/system/") or unit.startswith("/lib/systemd/system/"), unit
        # The unit's own command is "xinetd -stayalive -dontfork"; the drop-in's, in this order:
        assert args == ["/usr/sbin/xinetd", "-dontfork", "-stayalive"], args


def test_port_listens(host, gw):
    assert host.socket("tcp://0.0.0.0:%d" % gw["port"]).is_listening


def test_px_listen_link_points_into_venv(host, gw):
    link = host.file(gw["px_listen_link"])
    assert link.is_symlink
    assert link.linked_to == os.path.join(gw["venv_dir"], "bin", "px-listen")


def test_px_listen_prints_its_version(host, gw):
    # px-listen --version prints its version and exits 1 (its own convention).
    res = host.run("%s --version", gw["px_listen_link"])
    assert "Version: 1.2.0" in res.stdout, res.stderr


def test_pypx_pinned(host, gw):
    res = host.run("%s/bin/pip show pypx", gw["venv_dir"])
    assert res.rc == 0
    assert "Version: 3.12.6" in res.stdout


def test_service_file(host, gw):
    f = host.file("/etc/xinetd.d/%s" % gw["service_name"])
    assert f.exists and f.is_file
    assert f.user == "root" and f.group == "root"
    assert f.mode == 0o644
    text = f.content_string
    assert text.startswith("# Managed by Ansible")
    settings = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            settings[key.strip()] = value.strip()
    assert "service %s" % gw["service_name"] in text
    assert settings["port"] == str(gw["port"])
    assert settings["user"] == gw["user"]
    # Every association starts the gate, run by perl, with its rules as its argument.
    assert settings["server"] == "/usr/bin/perl"
    assert settings["server_args"].split() == [GATE, GATE_RULES]
    assert settings["wait"] == "no" and settings["socket_type"] == "stream"
    assert settings["env"] == "TCP_NODELAY=1"
    assert settings["log_type"] == "SYSLOG daemon info"
    assert "HOST" in settings["log_on_success"].split()
    assert "HOST" in settings["log_on_failure"].split()


GATE, GATE_RULES = "/usr/local/libexec/pacsgate/pacsgate-gate", "/etc/pacsgate/dicomlistener.gate"


def test_gate_and_its_rules_belong_to_root(host, gw):
    """The gate's rules: the called AE title (hex), each PACS tied to its calling AE title, loopback
    with any, and storescp itself as the receiver, into a directory per association."""
    for path, mode in ((GATE, 0o644), (GATE_RULES, 0o644), ("/etc/pacsgate/dicomlistener.json", 0o644)):
        f = host.file(path)
        assert (f.user, f.group, f.mode) == ("root", "root", mode), path
    rules = host.file(GATE_RULES).content_string.splitlines()
    assert "called " + gw["aetitle"].encode().hex() in rules
    assert "peer " + SENDER_AET.encode().hex() in " ".join(rules)
    assert "peer * 4 7f000001 32" in rules
    assert "incoming %s/incoming" % gw["tmp_dir"] in rules
    assert "exec /usr/bin/storescp" in rules
    assert {"arg --inetd", "arg --bit-preserving", "arg +xa"} <= set(rules)
    assert "output-option --output-directory" in rules


def test_filer_runs_as_the_listener_in_a_sandbox(host, gw):
    unit = "pacsgate-filer-%s" % gw["service_name"]
    assert host.service(unit).is_running and host.service(unit).is_enabled
    pid = host.run("systemctl show --property=MainPID --value %s", unit).stdout.strip()
    assert host.run("ps -o user= -p %s", pid).stdout.strip() == gw["user"]
    show = host.run("systemctl show %s -p NoNewPrivileges -p ProtectSystem -p PrivateTmp", unit).stdout
    assert "NoNewPrivileges=yes" in show and "ProtectSystem=strict" in show and "PrivateTmp=yes" in show


@pytest.mark.parametrize("key", ["tmp_dir", "log_dir", "data_dir"])
def test_listener_directories(host, gw, key):
    d = host.file(gw[key])
    assert d.is_directory and not d.is_symlink
    assert d.user == gw["user"] and d.group == gw["group"]
    assert d.mode == 0o750


def test_base_and_services_directories_belong_to_root(host, gw):
    """The listener cannot rename or replace its tmp, log and data dirs, nor pypx's service file."""
    for path in (gw["base_dir"], gw["base_dir"] + "/services"):
        d = host.file(path)
        assert (d.user, d.group, d.mode) == ("root", gw["group"], 0o750), path
    pacs = host.file(gw["base_dir"] + "/services/pacs.json")
    assert (pacs.user, pacs.group, pacs.mode) == ("root", gw["group"], 0o640)


def test_c_echo_from_outside(gw):
    res = dcmtk("echoscu", "-v", "-aet", SENDER_AET, "-aec", gw["aetitle"], gw["ip"], str(gw["port"]), timeout=60)
    assert res.returncode == 0, res.stderr
    assert "Received Echo Response (Success)" in res.stdout + res.stderr


def test_study_sent_from_outside_is_accepted(sent_study):
    res = sent_study["storescu"]
    assert res.returncode == 0, res.stderr
    assert "Error" not in res.stderr, res.stderr


def test_every_instance_is_filed(sent_study):
    expected = {uid for uids in sent_study["series"].values() for uid in uids}
    assert len(expected) == sent_study["expected"] >= 100
    missing = expected - set(sent_study["filed"])
    assert not missing, "%d of %d instances not filed" % (len(missing), len(expected))


def test_tree_is_patient_study_series(host, gw, sent_study):
    data = gw["data_dir"].rstrip("/")
    series_dirs = {}
    for series_uid, uids in sent_study["series"].items():
        for uid in uids:
            rel = sent_study["filed"][uid][len(data) + 1:].split("/")
            assert len(rel) == 4, rel  # patient / study / series / file
            assert rel[0].startswith(sent_study["patient_id"] + "-")
            assert rel[1].endswith("-" + sent_study["study_uid"])
            assert rel[2].endswith("-" + series_uid)
            series_dirs["/".join([data] + rel[:3])] = series_uid
    assert len(series_dirs) == len(sent_study["series"]) >= 2
    for d, series_uid in series_dirs.items():
        info = host.file(d + "/series.info")
        assert info.exists, "%s has no series.info" % d
        # pypx writes it with configparser, which lower-cases the keys.
        assert "seriesinstanceuid = %s\n" % series_uid in info.content_string
        assert not host.file(d + "/receiving.series").exists
        assert host.file(os.path.dirname(d) + "/study.info").exists
        assert host.file(os.path.dirname(os.path.dirname(d)) + "/patient.info").exists


def test_associations_are_logged_with_the_client_host(host, gw, sent_study):
    started, ended = "START: %s pid=" % gw["service_name"], "EXIT: %s" % gw["service_name"]
    log = journal_with(host, "xinetd", started, ended)
    assert started in log
    assert ended in log
    gate_log = host.file(gw["log_dir"] + "/associations.log").content_string
    assert " accepted - id=" in gate_log and "calling=%s called=%s" % (SENDER_AET, gw["aetitle"]) in gate_log


def test_each_association_is_filed_with_a_record(host, gw, sent_study):
    """The filer's completion record: every instance filed and checked against the received copy."""
    decoded = filing_records(host, gw["tmp_dir"])
    ours = [r for r in decoded if r["instances"] == sent_study["expected"]]
    assert ours, decoded
    assert ours[-1]["filed"] == sent_study["expected"] and ours[-1]["quarantined"] == 0


def test_filed_files_belong_to_the_listener(host, gw, sent_study):
    path = next(iter(sent_study["filed"].values()))
    assert host.file(path).user == gw["user"]
    assert host.file(path).size > 0
