"""The suite's own layout: the test files that make network namespaces, sshd hosts, Slurm
daemons or firewall rules run in one worker, one after another (``conftest.HOST_FILES``):
two side by side would take the same namespace names and addresses."""

from __future__ import annotations

import os
import re

from conftest import HOST_FILES, SYSTEM_FILES

TESTS = os.path.dirname(os.path.abspath(__file__))
#: what a test file does that another worker's test must not do at the same time
SHARED_HOST_STATE = re.compile(r'\bfrom (netns_hosts|netns_cluster|sshd_hosts|slurm_hosts) import '
                               r'(?!free_port\b)|\bimport (netns_hosts|netns_cluster)\b'
                               r'|"iptables"|"netns"')


def test_every_file_that_shares_host_state_runs_in_the_hosts_worker():
    files = sorted(name for name in os.listdir(TESTS)
                   if name.startswith("test_") and name.endswith(".py"))
    sharing = [name for name in files
               if SHARED_HOST_STATE.search(open(os.path.join(TESTS, name)).read())]
    assert "test_network_faults.py" in sharing  # (the pattern finds them)
    assert [n for n in sharing if n not in HOST_FILES and n != os.path.basename(__file__)] \
        == [], "add them to HOST_FILES (and SYSTEM_FILES) in tests/conftest.py"
    assert [n for n in HOST_FILES if n not in files] == [], "HOST_FILES names a missing file"
    assert [n for n in SYSTEM_FILES if n not in files] == [], "SYSTEM_FILES names a missing file"
