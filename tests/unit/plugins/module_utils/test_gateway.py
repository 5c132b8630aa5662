"""Unit tests of plugins/module_utils/gateway.py with recorded command output and fake trees."""


import pytest

from ansible_collections.pacsgate.listener.plugins.module_utils import gateway

# `ip -o addr show` on a gateway that also runs Docker (one bridge, one user network, a veth).
IP_ADDR_WITH_DOCKER = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet6 ::1/128 scope host noprefixroute \\       valid_lft forever preferred_lft forever
2: ens3    inet 192.168.10.20/24 brd 192.168.10.255 scope global dynamic ens3\\       valid_lft 85000sec preferred_lft 85000sec
2: ens3    inet6 2001:db8::20/64 scope global dynamic mngtmpaddr \\       valid_lft 86000sec preferred_lft 14000sec
2: ens3    inet6 fe80::5054:ff:fe12:3456/64 scope link \\       valid_lft forever preferred_lft forever
3: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\       valid_lft forever preferred_lft forever
4: br-5f1c2a9d3e11    inet 172.18.0.1/16 brd 172.18.255.255 scope global br-5f1c2a9d3e11\\       valid_lft forever preferred_lft forever
6: veth1a2b3c4@if5    inet6 fe80::ac1d:2ff:fe3a:1/64 scope link \\       valid_lft forever preferred_lft forever
"""

# `ip -4 route get 8.8.8.8` on that host.
ROUTE_VIA_ENS3 = "8.8.8.8 via 192.168.10.1 dev ens3 src 192.168.10.20 uid 0 \n    cache \n"
# A host whose default route was (mis)set through the Docker bridge.
ROUTE_VIA_DOCKER = "8.8.8.8 via 172.17.0.254 dev docker0 src 172.17.0.1 uid 0 \n    cache \n"
# Inside a Docker container: eth0 is the container's own interface.
IP_ADDR_CONTAINER = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
5: eth0    inet 172.17.0.2/16 brd 172.17.255.255 scope global eth0\\       valid_lft forever preferred_lft forever
"""
ROUTE_CONTAINER = "8.8.8.8 via 172.17.0.1 dev eth0 src 172.17.0.2 uid 0 \n    cache \n"


def test_parse_ip_addr_reads_every_address_with_interface_and_scope():
    addresses = gateway.parse_ip_addr(IP_ADDR_WITH_DOCKER)
    assert len(addresses) == 8
    assert addresses[2] == {'interface': 'ens3', 'address': '192.168.10.20', 'prefix': 24,
                            'family': 'ipv4', 'scope': 'global'}
    assert addresses[-1]['interface'] == 'veth1a2b3c4'
    assert addresses[-1]['scope'] == 'link'


def test_global_addresses_leave_out_loopback_and_link_local():
    found = [a['address'] for a in gateway.global_addresses(gateway.parse_ip_addr(IP_ADDR_WITH_DOCKER))]
    assert found == ['192.168.10.20', '2001:db8::20', '172.17.0.1', '172.18.0.1']


def test_parse_route_get():
    assert gateway.parse_route_get(ROUTE_VIA_ENS3) == {'dev': 'ens3', 'src': '192.168.10.20', 'via': '192.168.10.1'}
    assert gateway.parse_route_get("RTNETLINK answers: Network is unreachable") == {
        'dev': None, 'src': None, 'via': None}


def test_host_ip_is_default_route_source_on_a_docker_host():
    ip, reason = gateway.choose_host_ip(gateway.parse_route_get(ROUTE_VIA_ENS3),
                                        gateway.parse_ip_addr(IP_ADDR_WITH_DOCKER))
    assert ip == '192.168.10.20'
    assert 'ens3' in reason


def test_host_ip_never_a_docker_address_even_if_the_route_says_so():
    ip, reason = gateway.choose_host_ip(gateway.parse_route_get(ROUTE_VIA_DOCKER),
                                        gateway.parse_ip_addr(IP_ADDR_WITH_DOCKER))
    assert ip == '192.168.10.20'
    assert 'no usable default route' in reason


def test_host_ip_without_default_route_is_first_physical_global_ipv4():
    ip, _reason = gateway.choose_host_ip(None, gateway.parse_ip_addr(IP_ADDR_WITH_DOCKER))
    assert ip == '192.168.10.20'


def test_host_ip_falls_back_to_ipv6_then_none():
    only_v6 = [a for a in gateway.parse_ip_addr(IP_ADDR_WITH_DOCKER) if a['family'] == 'ipv6']
    assert gateway.choose_host_ip(None, only_v6)[0] == '2001:db8::20'
    loopback_only = gateway.parse_ip_addr(IP_ADDR_WITH_DOCKER.splitlines()[0])
    assert gateway.choose_host_ip(None, loopback_only) == (None, 'no global address on a physical interface')


def test_host_ip_inside_a_container_is_its_eth0():
    ip, _reason = gateway.choose_host_ip(gateway.parse_route_get(ROUTE_CONTAINER),
                                         gateway.parse_ip_addr(IP_ADDR_CONTAINER))
    assert ip == '172.17.0.2'


@pytest.mark.parametrize('name,virtual', [
    ('lo', True), ('docker0', True), ('br-5f1c2a9d3e11', True), ('veth1a2b3c4', True), ('virbr0', True),
    ('eth0', False), ('ens3', False), ('enp0s31f6', False), ('bond0', False),
])
def test_virtual_interfaces(name, virtual):
    assert gateway.is_virtual_interface(name) is virtual


PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:28A2 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:0277 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0200A8C0:28A2 0100A8C0:D431 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
"""
PROC_NET_TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue
   0: 00000000000000000000000001000000:28A2 00000000000000000000000000000000:0000 0A 00000000:00000000
"""


@pytest.fixture
def fake_proc(tmp_path):
    (tmp_path / 'net').mkdir()
    (tmp_path / 'net' / 'tcp').write_text(PROC_NET_TCP)
    (tmp_path / 'net' / 'tcp6').write_text(PROC_NET_TCP6)
    for pid, argv in ((1, ['/lib/systemd/systemd']), (412, ['/usr/sbin/xinetd', '-pidfile', '/run/xinetd.pid']),
                      (900, ['/opt/pypx/bin/python3', '/usr/local/bin/px-listen', '-t', '/home/dicom/tmp']),
                      (901, ['/bin/sh', '-c', '/usr/local/libexec/pacsgate/dicomlistener-storescp -id'])):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / 'cmdline').write_bytes(b'\0'.join(a.encode() for a in argv) + b'\0')
    (tmp_path / 'self').mkdir()
    return str(tmp_path)


def test_listening_addresses_from_proc(fake_proc):
    assert gateway.listening_addresses(10402, fake_proc) == ['0.0.0.0', '::1']
    assert gateway.listening_addresses(631, fake_proc) == ['127.0.0.1']
    assert gateway.listening_addresses(104, fake_proc) == []


def test_listening_addresses_ignores_established_connections(fake_proc):
    # Line 2 is an ESTABLISHED connection to port 10402 from 192.168.0.2: not a listener.
    assert '192.168.0.2' not in gateway.listening_addresses(10402, fake_proc)


def test_listening_without_proc_is_empty(tmp_path):
    assert gateway.listening_addresses(10402, str(tmp_path)) == []


def test_find_xinetd(fake_proc):
    assert gateway.find_pids(gateway.is_xinetd, fake_proc) == [412]  # not px-listen (900)


def test_version():
    assert gateway.version_from_output('\x1b[0mVersion: 1.2.0\n') == '1.2.0'
    assert gateway.version_from_output('Traceback ...') is None
