"""``vega master`` and ``vega worker``: the cluster daemons in the foreground.

Every option but the process ones (--daemonize, --pidfile, ...) sets a setting of
conf/vega-defaults.yaml (named in its help); an option not given leaves the setting to
the configuration: defaults < vega-defaults.yaml < --config < VEGA_* < the option.
"""

from __future__ import annotations

from typing import Optional, Tuple

import click

from vega_runtime.config_schema import SETTINGS_BY_KEY

from vega_runtime.deploy.daemon_main import MASTER_OPTIONS, WORKER_OPTIONS, run_master, run_worker

from .config_table import print_daemon_config
from .options import SECRET_FILE_HELP


def setting_option(flag: str, name: str, options: dict, help: str, **kwargs):
    """A flag for the setting ``options[name]``; its help names the setting and default."""
    setting = SETTINGS_BY_KEY[options[name]]
    default = "" if setting.default in ("", False) else f"; default: {setting.default}"
    return click.option(flag, name, default=None, show_default=False,
                        help=f"{help} [setting {setting.key}{default}]", **kwargs)


def master_option(flag: str, name: str, help: str, **kwargs):
    return setting_option(flag, name, MASTER_OPTIONS, help, **kwargs)


def worker_option(flag: str, name: str, help: str, **kwargs):
    return setting_option(flag, name, WORKER_OPTIONS, help, **kwargs)


config_option = click.option("--config", "config_file", type=click.Path(dir_okay=False),
                             help="A settings file (YAML), over conf/vega-defaults.yaml.")
verbose_option = click.option("--verbose", is_flag=True,
                              help="Print each resolved setting and where it came from.")
no_secret_option = click.option(
    "--no-secret", is_flag=True,
    help="Run without a cluster secret: loopback only, and every account of this host can "
         "use the cluster (run code as this account). Without it and without --secret-file, "
         "the default secret file is used, created if missing.")
BIND_HELP = ("Address to listen on (default: the --host address; 0.0.0.0 for every "
             "interface, which needs a secret).")


@click.command("master")
@master_option("--host", "host", "Address workers and drivers reach the master at "
                                 "(default: VEGA_LOCAL_IP, then this machine's address).")
@master_option("--bind", "bind", BIND_HELP)
@master_option("--port", "port", "Port for workers and drivers.", type=int)
@master_option("--webui-port", "webui_port", "HTTPS port (UI, JSON API, /metrics).", type=int)
@master_option("--work-dir", "work_dir", "The master's directory.",
               type=click.Path(file_okay=False))
@master_option("--secret-file", "secret_file", SECRET_FILE_HELP)
@no_secret_option
@master_option("--worker-timeout", "worker_timeout",
               "Seconds without a heartbeat before a worker is marked lost.", type=float)
@click.option("--ready-file", hidden=True, help="Write the bound ports here as JSON once listening.")
@click.option("--daemonize", is_flag=True, help="Detach (used by start-cluster); needs --pidfile.")
@click.option("--pidfile", type=click.Path(dir_okay=False))
@click.option("--log-file", type=click.Path(dir_okay=False), help="stdout/stderr when detached.")
@master_option("--event-log-dir", "event_log_dir",
               "Event logs the web UI lists finished applications from. Drivers write "
               "theirs where their own vega.eventlog.dir says (cluster-mode ones too): give "
               "them this directory for the UI to list them.")
@master_option("--ui-open", "open_reads", "Let anyone who can reach the port read the web UI "
               "and JSON API without the token (default: every request but /metrics needs it).",
               is_flag=True)
@master_option("--ui-allowed-hosts", "ui_allowed_hosts",
               "More host names (comma-separated) the HTTP port answers to, besides its own "
               "names, localhost and IP addresses; * answers to any (behind a proxy).")
@config_option
@verbose_option
def master(host: Optional[str], bind: Optional[str], port: Optional[int],
           webui_port: Optional[int], work_dir: Optional[str], secret_file: Optional[str],
           no_secret: bool, worker_timeout: Optional[float], ready_file: Optional[str], daemonize: bool,
           pidfile: Optional[str], log_file: Optional[str], event_log_dir: Optional[str],
           open_reads: Optional[bool], ui_allowed_hosts: Optional[str],
           config_file: Optional[str], verbose: bool) -> None:
    """Run the master in the foreground."""
    run_master(host=host, port=port, webui_port=webui_port, work_dir=work_dir,
               secret_file=secret_file, worker_timeout=worker_timeout, ready_file=ready_file,
               daemonize=daemonize, pidfile=pidfile, log_file=log_file,
               event_log_dir=event_log_dir, open_reads=open_reads,
               ui_allowed_hosts=ui_allowed_hosts, bind=bind, config_file=config_file,
               show_config=print_daemon_config if verbose else None, no_secret=no_secret)


@click.command("worker")
@click.argument("master_url")
@worker_option("--host", "host", "Address others reach this worker at (default: "
                                 "VEGA_LOCAL_IP, then the local address routing to the master).")
@worker_option("--bind", "bind", BIND_HELP)
@worker_option("--cores", "cores", "Cores for executors (0: every CPU).", type=int)
@worker_option("--memory", "memory", "Memory for executors, e.g. 8g (0: RAM - 1g).")
@worker_option("--port", "port", "Shuffle service port (0: any).", type=int)
@worker_option("--webui-port", "webui_port", "HTTPS port for /metrics (0: any free port).",
               type=int)
@worker_option("--work-dir", "work_dir", "The worker's directory.",
               type=click.Path(file_okay=False))
@worker_option("--labels", "labels", "Comma-separated labels.")
@click.option("--resource", "resources", multiple=True, metavar="NAME=AMOUNT:SCRIPT",
              help="A custom resource it offers (GPUs), found by SCRIPT, which prints "
                   "{\"name\": NAME, \"addresses\": [...]}; repeatable.")
@worker_option("--secret-file", "secret_file", SECRET_FILE_HELP)
@no_secret_option
@worker_option("--death-timeout", "death_timeout",
               "Seconds without a master before the worker stops.", type=float)
@worker_option("--work-dir-ttl", "work_dir_ttl",
               "Seconds after which a finished application's work dir is deleted.", type=float)
@click.option("--daemonize", is_flag=True, help="Detach (used by start-cluster); needs --pidfile.")
@click.option("--pidfile", type=click.Path(dir_okay=False))
@click.option("--log-file", type=click.Path(dir_okay=False), help="stdout/stderr when detached.")
@config_option
@verbose_option
def worker(master_url: str, host: Optional[str], bind: Optional[str], cores: Optional[int],
           memory: Optional[str], port: Optional[int], webui_port: Optional[int],
           work_dir: Optional[str], labels: Optional[str], secret_file: Optional[str],
           no_secret: bool, death_timeout: Optional[float], work_dir_ttl: Optional[float], daemonize: bool,
           pidfile: Optional[str], log_file: Optional[str], config_file: Optional[str],
           verbose: bool, resources: Tuple[str, ...] = ()) -> None:
    """Run a worker for the master at MASTER_URL (vega://host:port) in the foreground."""
    run_worker(master_url, host=host, cores=cores, memory=memory, port=port,
               webui_port=webui_port, work_dir=work_dir, labels=labels, secret_file=secret_file,
               death_timeout=death_timeout, work_dir_ttl=work_dir_ttl, daemonize=daemonize,
               pidfile=pidfile, log_file=log_file, bind=bind, config_file=config_file,
               show_config=print_daemon_config if verbose else None, no_secret=no_secret,
               resources=resources)
