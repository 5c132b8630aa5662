"""Find the address the gateway containers reach the Docker host at.

Docker engines differ in what they report, so three sources are tried in order:

1. the default bridge's IPAM gateway (`docker network inspect bridge`), where the engine reports
   one (some engines, such as Debian's docker.io 20.10.24 on some hosts, report only the subnet);
2. the IPv4 address of the bridge's interface on the host (`docker0`, or the name the bridge
   network gives in its options), read with `ip -o -4 addr show dev <name>`;
3. the default route as a container sees it (`ip -4 route show default` in a throwaway container
   of the given image).

Prints the address and exits 0, or names every source tried and what it gave, and exits 1: the
harness never carries on with an empty value.

    scripts/docker_host_address.py [--image IMAGE]
"""

import argparse
import ipaddress
import json
import subprocess
import sys

DEFAULT_BRIDGE_INTERFACE = "docker0"


class NotFound(Exception):
    """No source gave an address; the message names what was tried."""


def _ipv4(text):
    """The text as an IPv4 address string, or None."""
    try:
        return str(ipaddress.IPv4Address(text.strip()))
    except (ipaddress.AddressValueError, AttributeError):
        return None


def from_ipam(inspect_output):
    """The gateway of `docker network inspect bridge` (JSON), or None when the engine gave none."""
    try:
        networks = json.loads(inspect_output)
    except ValueError:
        return None
    if isinstance(networks, dict):
        networks = [networks]
    for network in networks or []:
        for config in ((network or {}).get("IPAM") or {}).get("Config") or []:
            address = _ipv4((config or {}).get("Gateway") or "")
            if address:
                return address
    return None


def bridge_interface(inspect_output):
    """The host interface of the bridge network (its com.docker.network.bridge.name option)."""
    try:
        networks = json.loads(inspect_output)
    except ValueError:
        return DEFAULT_BRIDGE_INTERFACE
    if isinstance(networks, dict):
        networks = [networks]
    for network in networks or []:
        name = ((network or {}).get("Options") or {}).get("com.docker.network.bridge.name")
        if name:
            return name
    return DEFAULT_BRIDGE_INTERFACE


def from_interface(ip_addr_output):
    """The first IPv4 address in `ip -o -4 addr show dev <bridge>` output, or None."""
    for line in ip_addr_output.splitlines():
        fields = line.split()
        if "inet" in fields[:-1]:
            address = _ipv4(fields[fields.index("inet") + 1].split("/")[0])
            if address:
                return address
    return None


def from_route(route_output):
    """The gateway of `ip -4 route show default` output, or None."""
    for line in route_output.splitlines():
        fields = line.split()
        if fields[:1] == ["default"] and "via" in fields[:-1]:
            address = _ipv4(fields[fields.index("via") + 1])
            if address:
                return address
    return None


def _run(argv):
    """(return code, stdout, stderr) of a command; rc 127 when it cannot be started."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, "", str(exc)
    return proc.returncode, proc.stdout, proc.stderr


def _said(rc, out, err):
    text = (err or out).strip().splitlines()
    return "exit %d%s" % (rc, ": " + text[-1] if text else "")


def find(image=None, run=_run):
    """(address, source) from the first source that gives one; raises NotFound otherwise."""
    tried = []
    rc, out, err = run(["docker", "network", "inspect", "bridge"])
    inspect = out if rc == 0 else ""
    address = from_ipam(inspect) if rc == 0 else None
    if address:
        return address, "the bridge network's IPAM gateway"
    tried.append("IPAM gateway of `docker network inspect bridge`: %s"
                 % ("no Gateway in its IPAM config" if rc == 0 else _said(rc, out, err)))

    interface = bridge_interface(inspect)
    rc, out, err = run(["ip", "-o", "-4", "addr", "show", "dev", interface])
    address = from_interface(out) if rc == 0 else None
    if address:
        return address, "the address of %s" % interface
    tried.append("IPv4 address of %s (`ip -o -4 addr show dev %s`): %s"
                 % (interface, interface, "none" if rc == 0 else _said(rc, out, err)))

    if image:
        rc, out, err = run(["docker", "run", "--rm", "--network", "bridge", "--entrypoint", "ip",
                            image, "-4", "route", "show", "default"])
        address = from_route(out) if rc == 0 else None
        if address:
            return address, "the default route inside a container of %s" % image
        tried.append("default route inside a container of %s: %s"
                     % (image, "none" if rc == 0 else _said(rc, out, err)))
    else:
        tried.append("default route inside a container: no image given (--image)")
    raise NotFound("cannot find the address the gateway containers reach this Docker host at; tried:\n  - "
                   + "\n  - ".join(tried))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--image", help="image to start a throwaway container from (the third source)")
    parser.add_argument("--verbose", action="store_true", help="say on stderr which source gave the address")
    args = parser.parse_args(argv)
    try:
        address, source = find(args.image)
    except NotFound as exc:
        sys.stderr.write("docker_host_address: %s\n" % exc)
        return 1
    if args.verbose:
        sys.stderr.write("docker_host_address: %s (%s)\n" % (address, source))
    print(address)
    return 0


if __name__ == "__main__":
    sys.exit(main())
