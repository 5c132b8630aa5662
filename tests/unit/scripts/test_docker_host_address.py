"""scripts/docker_host_address.py: each source of the Docker host's address, in order, and the
refusal to carry on with none. Recorded answers of real engines, including one whose default
bridge reports no IPAM gateway (Debian's docker.io 20.10.24 on some hosts)."""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "scripts"))
import docker_host_address as dha  # noqa: E402  pylint: disable=wrong-import-position,import-error

WITH_GATEWAY = json.dumps([{
    "Name": "bridge", "Driver": "bridge",
    "IPAM": {"Driver": "default", "Options": None,
             "Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]},
    "Options": {"com.docker.network.bridge.name": "docker0"},
}])
WITHOUT_GATEWAY = json.dumps([{
    "Name": "bridge", "Driver": "bridge",
    "IPAM": {"Driver": "default", "Options": None, "Config": [{"Subnet": "172.17.0.0/16"}]},
    "Options": {"com.docker.network.bridge.default_bridge": "true",
                "com.docker.network.bridge.name": "docker0"},
}])
RENAMED_BRIDGE = json.dumps([{
    "Name": "bridge", "IPAM": {"Config": [{"Subnet": "10.99.0.0/24"}]},
    "Options": {"com.docker.network.bridge.name": "br-lab"},
}])
IP_ADDR_DOCKER0 = "5: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\       valid_lft forever preferred_lft forever\n"
ROUTE_IN_CONTAINER = "default via 172.17.0.1 dev eth0 \n172.17.0.0/16 dev eth0 proto kernel scope link src 172.17.0.2 \n"


class Engine:
    """A fake runner: answers per command (argv prefix), records what was asked."""

    def __init__(self, answers):
        self.answers = answers
        self.asked = []

    def __call__(self, argv):
        self.asked.append(argv)
        for prefix, answer in self.answers.items():
            if tuple(argv[:len(prefix)]) == prefix:
                return answer
        return 127, "", "%s: not found" % argv[0]


INSPECT = ("docker", "network", "inspect")
IP_ADDR = ("ip", "-o", "-4", "addr")
DOCKER_RUN = ("docker", "run")


def test_ipam_gateway_is_used_when_the_engine_reports_one():
    engine = Engine({INSPECT: (0, WITH_GATEWAY, "")})
    assert dha.find("img", run=engine) == ("172.17.0.1", "the bridge network's IPAM gateway")
    assert len(engine.asked) == 1


def test_ipam_without_gateway_falls_back_to_docker0():
    engine = Engine({INSPECT: (0, WITHOUT_GATEWAY, ""), IP_ADDR: (0, IP_ADDR_DOCKER0, "")})
    assert dha.find("img", run=engine) == ("172.17.0.1", "the address of docker0")
    assert engine.asked[1] == ["ip", "-o", "-4", "addr", "show", "dev", "docker0"]


def test_the_bridge_interface_name_comes_from_the_network_options():
    engine = Engine({INSPECT: (0, RENAMED_BRIDGE, ""),
                     IP_ADDR: (0, "7: br-lab    inet 10.99.0.1/24 scope global br-lab\n", "")})
    assert dha.find(None, run=engine) == ("10.99.0.1", "the address of br-lab")


def test_no_interface_address_falls_back_to_the_route_inside_a_container():
    engine = Engine({INSPECT: (0, WITHOUT_GATEWAY, ""), IP_ADDR: (1, "", 'Device "docker0" does not exist.'),
                     DOCKER_RUN: (0, ROUTE_IN_CONTAINER, "")})
    address, source = dha.find("pacsgate/debian-systemd:bookworm-x", run=engine)
    assert address == "172.17.0.1" and "inside a container" in source
    assert engine.asked[-1][-5:] == ["pacsgate/debian-systemd:bookworm-x", "-4", "route", "show", "default"]
    assert "--rm" in engine.asked[-1]


def test_nothing_found_names_every_source_tried():
    engine = Engine({INSPECT: (0, WITHOUT_GATEWAY, ""), IP_ADDR: (0, "", ""), DOCKER_RUN: (0, "", "")})
    with pytest.raises(dha.NotFound) as err:
        dha.find("img", run=engine)
    text = str(err.value)
    assert "no Gateway in its IPAM config" in text
    assert "IPv4 address of docker0" in text
    assert "default route inside a container of img: none" in text


def test_a_failing_engine_is_reported_not_hidden():
    engine = Engine({INSPECT: (1, "", "Cannot connect to the Docker daemon"), IP_ADDR: (0, "", "")})
    with pytest.raises(dha.NotFound) as err:
        dha.find(None, run=engine)
    assert "Cannot connect to the Docker daemon" in str(err.value)
    assert "no image given" in str(err.value)


@pytest.mark.parametrize("answer", ["", "not json", "[]", "{}", '[{"IPAM": null}]', '[{"IPAM": {"Config": null}}]',
                                    '[{"IPAM": {"Config": [{"Gateway": ""}]}}]',
                                    '[{"IPAM": {"Config": [{"Gateway": "fe80::1"}]}}]'])
def test_ipam_answers_without_a_usable_gateway(answer):
    assert dha.from_ipam(answer) is None


def test_route_and_interface_parsers_ignore_other_lines():
    assert dha.from_route("10.0.0.0/8 via 10.1.1.1 dev eth1\n") is None
    assert dha.from_route("default dev eth0 scope link\n") is None
    assert dha.from_interface("5: docker0    inet6 fe80::1/64 scope link\n") is None


def test_main_prints_the_address_or_fails(monkeypatch, capsys):
    monkeypatch.setattr(dha, "find", lambda image: ("172.17.0.1", "x"))
    assert dha.main([]) == 0
    assert capsys.readouterr().out == "172.17.0.1\n"

    def nothing(image):
        raise dha.NotFound("tried: everything")
    monkeypatch.setattr(dha, "find", nothing)
    assert dha.main([]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "tried: everything" in captured.err


SHIM = os.path.join(os.path.dirname(__file__), "..", "..", "shims", "no-ipam-gateway")


@pytest.fixture(name="shimmed")
def fixture_shimmed(tmp_path):
    """PATH with the no-ipam-gateway shim before a fake real docker that answers WITH_GATEWAY to
    `network inspect` and echoes any other command."""
    real = tmp_path / "real"
    real.mkdir()
    fake = real / "docker"
    fake.write_text("#!/bin/sh\n"
                    "if [ \"$1 $2\" = 'network inspect' ]; then cat <<'JSON'\n%s\nJSON\n"
                    "else echo \"real docker: $*\"; fi\n" % WITH_GATEWAY)
    fake.chmod(0o755)
    return dict(os.environ, PATH="%s:%s:%s" % (os.path.abspath(SHIM), real, os.environ["PATH"]))


def test_the_no_ipam_gateway_shim_answers_as_such_an_engine(shimmed):
    """The shim docs/testing.md runs the README's commands with: the engine's answer without its
    IPAM gateway, so the address comes from the next source; everything else passes through."""
    import subprocess  # pylint: disable=import-outside-toplevel
    out = subprocess.run(["docker", "network", "inspect", "bridge"], env=shimmed, capture_output=True,
                         text=True, check=True).stdout
    assert dha.from_ipam(WITH_GATEWAY) == "172.17.0.1" and dha.from_ipam(out) is None
    assert dha.bridge_interface(out) == "docker0"
    passed = subprocess.run(["docker", "ps", "-a"], env=shimmed, capture_output=True, text=True, check=True)
    assert passed.stdout == "real docker: ps -a\n"
    formatted = subprocess.run(["docker", "network", "inspect", "-f", "{{.IPAM}}", "bridge"], env=shimmed,
                               capture_output=True, text=True, check=False)
    assert formatted.returncode == 2 and "not emulated" in formatted.stderr
    other = subprocess.run(["docker", "network", "inspect", "-f", "{{.Internal}}", "lab"], env=shimmed,
                           capture_output=True, text=True, check=True)
    assert "Gateway" in other.stdout  # a template not on IPAM: the real answer, untouched
