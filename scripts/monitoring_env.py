"""Write conf/monitoring/.env: the Grafana admin password for the monitoring stack.

    python scripts/monitoring_env.py [PATH]      # default: conf/monitoring/.env

The file is born with mode 0600 (a private temporary file linked into place) and holds a
random password (``GRAFANA_ADMIN_PASSWORD``) that docker compose reads from the compose
file's directory.  An existing file is left alone: delete it to make a new password
(Grafana keeps the first password in its database; see docs/monitoring.md).
"""

import os
import secrets
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = os.path.join(ROOT, "conf", "monitoring", ".env")

TEMPLATE = """\
# The monitoring stack's settings (docker compose reads this file; keep it private).
# Grafana's admin password (user admin):
GRAFANA_ADMIN_PASSWORD={password}
# Where Prometheus, Grafana and node_exporter publish their ports; 127.0.0.1 keeps them
# on this machine. Set 0.0.0.0 only behind a firewall you trust.
# MONITORING_BIND_ADDRESS=127.0.0.1
"""


def write_env(path: str) -> bool:
    """Create ``path`` (mode 0600) with a new password; False if it already exists."""
    if os.path.exists(path):
        return False
    staging = f"{path}.tmp-{os.getpid()}"
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(TEMPLATE.format(password=secrets.token_urlsafe(24)))
        os.link(staging, path)  # never replaces a file made meanwhile
    except FileExistsError:
        return False
    finally:
        os.unlink(staging)
    return True


def main(argv) -> int:
    path = os.path.abspath(argv[1] if len(argv) > 1 else DEFAULT)
    if write_env(path):
        print(f"wrote {path} (mode 0600): Grafana user admin, password GRAFANA_ADMIN_PASSWORD "
              "there")
    else:
        print(f"{path} exists; left as it is (delete it to make a new password)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
