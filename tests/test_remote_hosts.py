"""Which cluster hosts are this machine (``vega_cli.remote.is_this_machine``): the master is
started locally when its address is one of this machine's, over SSH otherwise."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from proc_helpers import REPO
from vega_cli.remote import is_this_machine

#: Shell run in a network namespace of its own: a second "network card" (a bridge holding
#: 10.89.0.1/24) besides loopback, then the command.  The host name still resolves as outside.
SECOND_INTERFACE = ("ip link set lo up && ip link add vega-nic1 type bridge && "
                    "ip addr add 10.89.0.1/24 dev vega-nic1 && ip link set vega-nic1 up && "
                    'exec "$@"')

requires_unshare = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"),
    reason="needs root, unshare (util-linux) and iproute2")


def test_loopback_names_and_addresses_are_this_machine():
    """localhost and every loopback address, IPv4 and IPv6, are this machine."""
    assert all(is_this_machine(h) for h in ("localhost", "127.0.0.1", "127.0.1.1", "::1"))


def test_an_address_no_interface_holds_is_not_this_machine():
    """A TEST-NET-3 address (RFC 5737, never assigned) is another machine."""
    assert is_this_machine("203.0.113.7") is False


def test_an_unresolvable_name_is_not_this_machine():
    """A name that does not resolve (or is no host name at all) is False, not an exception."""
    assert is_this_machine("no-such-host.invalid") is False
    assert is_this_machine("bad..name") is False


@requires_unshare
def test_an_address_of_a_second_interface_is_this_machine():
    """An address of another interface than the host name's is this machine; its neighbour on
    the same subnet is not."""
    probe = ("import json; from vega_cli.remote import is_this_machine as local; "
             "print(json.dumps([local('10.89.0.1'), local('10.89.0.2')]))")
    done = subprocess.run(["unshare", "--net", "sh", "-ec", SECOND_INTERFACE, "sh",
                           sys.executable, "-c", probe],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [True, False]
