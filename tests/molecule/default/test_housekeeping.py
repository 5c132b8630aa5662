"""The housekeeping timer removes filed association copies from the tmp dir and nothing else."""

from harness import FULL_HOST_ONLY

# Expensive: on the Debian 12 gateway only.
testinfra_hosts = FULL_HOST_ONLY


def unit(gw):
    return "pacsgate-housekeeping-%s" % gw["service_name"]


def test_timer_is_enabled_and_waiting(host, gw):
    timer = host.service(unit(gw) + ".timer")
    assert timer.is_enabled and timer.is_running


def test_housekeeping_keeps_what_is_not_filed(host, gw, sent_study):
    assert len(sent_study["filed"]) == sent_study["expected"]
    tmp, data = gw["tmp_dir"], gw["data_dir"]
    filed_before = int(host.run("find %s -name '*.dcm' | wc -l", data).stdout)
    # The study's association dir is fully filed: make it two days old. Beside it, an old dir
    # with an instance that was never filed, and a recent one.
    dirs = host.run("ls -d %s/*/", tmp).stdout.split()
    filed_dir = [d for d in dirs if host.run("ls -R %s | grep -c '^CT\\.'", d).stdout.strip() not in ("", "0")][0]
    host.run("mkdir -p %s/pg-unfiled/X && echo x > %s/pg-unfiled/X/CT.1.2.3.424242", tmp, tmp)
    host.run("find %s %s/pg-unfiled -exec touch -d '2 days ago' {} +", filed_dir, tmp)
    host.run("mkdir -p %s/pg-recent/X && echo x > %s/pg-recent/X/CT.1.2.3.434343", tmp, tmp)
    try:
        res = host.run("systemctl start %s.service", unit(gw))
        assert res.rc == 0, res.stderr + host.run("journalctl -u %s.service -n 20 --no-pager", unit(gw)).stdout
        assert not host.file(filed_dir).exists
        assert host.file(tmp + "/pg-unfiled/X/CT.1.2.3.424242").exists
        assert host.file(tmp + "/pg-recent/X/CT.1.2.3.434343").exists
        assert int(host.run("find %s -name '*.dcm' | wc -l", data).stdout) == filed_before
        assert "removed" in host.run("journalctl -u %s.service -n 20 --no-pager", unit(gw)).stdout
    finally:
        host.run("rm -rf %s/pg-unfiled %s/pg-recent", tmp, tmp)
