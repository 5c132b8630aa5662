"""Verifier of the default scenario: the gateway as a PACS and its admin see it."""

import os

import pytest

from harness import SENDER_AET, dcmtk, journal_with, xinetd_args


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


def test_xinetd_runs_with_the_roles_options(host):
    """Debian 11 and 12 start xinetd through its init script, which reads /etc/default/xinetd;
    Debian 13's own unit does not, and gets a drop-in that replaces its command."""
    unit = host.run("systemctl show --property=FragmentPath --value xinetd.service").stdout.strip()
    args = xinetd_args(host)
    if unit.startswith("/run/systemd/generator"):
        lines = host.file("/etc/default/xinetd").content_string.splitlines()
        assert "INETD_COMPAT=No" in lines and 'XINETD_OPTS="-stayalive"' in lines
        assert not host.file(DROPIN).exists
        assert args[0] == "/usr/sbin/xinetd" and "-stayalive" in args and "-inetd_compat" not in args
    else:
        assert unit.startswith("/usr/lib/systemd/system/") or unit.startswith("/lib/systemd/system/"), unit
        assert DROPIN in host.run("systemctl show --property=DropInPaths --value xinetd.service").stdout
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
    # The lean launcher (dicom_listener_lean_launcher, on by default) runs px-listen; see
    # test_lean_launcher.py.
    assert settings["server"] == "/usr/local/libexec/pacsgate/px_listen_lean.py"
    assert settings["wait"] == "no" and settings["socket_type"] == "stream"
    assert settings["env"] == "TCP_NODELAY=1"
    assert settings["log_type"] == "SYSLOG daemon info"
    assert "HOST" in settings["log_on_success"].split()
    assert "HOST" in settings["log_on_failure"].split()
    args = settings["server_args"].split()
    assert args[args.index("-t") + 1] == gw["tmp_dir"]
    assert args[args.index("-l") + 1] == gw["log_dir"]
    assert args[args.index("-d") + 1] == gw["data_dir"]
    wrapper = host.file(args[args.index("-e") + 1])
    assert wrapper.mode == 0o755
    assert "--aetitle %s" % gw["aetitle"] in wrapper.content_string


@pytest.mark.parametrize("key", ["base_dir", "tmp_dir", "log_dir", "data_dir"])
def test_directories(host, gw, key):
    d = host.file(gw[key])
    assert d.is_directory
    assert d.user == gw["user"] and d.group == gw["group"]
    assert d.mode == 0o750


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


def test_filed_files_belong_to_the_listener(host, gw, sent_study):
    path = next(iter(sent_study["filed"].values()))
    assert host.file(path).user == gw["user"]
    assert host.file(path).size > 0
