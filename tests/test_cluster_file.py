"""The cluster file loader (vega_runtime/cluster_file.py): conf/cluster.yaml and the Rust
Vega hosts.conf, where the file comes from, and one exact message per validation error."""

import dataclasses
import os
import textwrap

import pytest

from vega_runtime.cluster_file import (ClusterFile, ClusterMaster, SSHSettings, WorkerEntry,
                                       load_cluster_file, parse_cluster_text)
from vega_runtime.errors import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MASTER = "master: {host: 10.0.0.1}\n"


@pytest.fixture
def key(tmp_path):
    """An existing private key file."""
    path = tmp_path / "id_test"
    path.write_text("not really a key\n")
    return str(path)


def write(directory, name, text):
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


def error(text, source="conf/cluster.yaml"):
    with pytest.raises(ConfigError) as info:
        parse_cluster_text(textwrap.dedent(text), source)
    return str(info.value)


# -- cluster.yaml ----------------------------------------------------------------------------

def test_yaml_both_worker_forms_defaults_and_overrides(tmp_path, key):
    other_key = str(tmp_path / "other key")
    open(other_key, "w").close()
    path = write(tmp_path, "cluster.yaml", f"""
        master: {{host: 10.0.0.1, port: 7000, webui_port: 9000, work_dir: /srv/master}}
        ssh: {{user: vega, key: "{key}", port: 2200, connect_timeout: 2.5}}
        defaults:
          cores: 4
          memory: 8g
          work_dir: work/w
          python: python3.11
          labels: [linux, x86]
        workers:
          - 10.0.0.2
          - alice@10.0.0.3
          - host: bob@node-4.example.com
            key: "{other_key}"
            ssh_port: 22
            cores: 16
            memory: 512m
            work_dir: /data/vega work
            labels: gpu, ssd
            python: /opt/venv/bin/python
          - {{host: 10.0.0.5, user: carol, labels: []}}
        hdfs: {{namenode: "hdfs://10.0.0.1:9870"}}
        secret_file: ~/vega-secret
    """)
    ssh = SSHSettings("vega", key, 2200, 2.5)
    assert load_cluster_file(path) == ClusterFile(
        path=path,
        master=ClusterMaster("10.0.0.1", 7000, 9000, "/srv/master"),
        ssh=ssh,
        workers=(
            WorkerEntry("10.0.0.2", "vega", key, 2200, 4, 8 << 30, "work/w", ("linux", "x86"),
                        "python3.11"),
            WorkerEntry("10.0.0.3", "alice", key, 2200, 4, 8 << 30, "work/w", ("linux", "x86"),
                        "python3.11"),
            WorkerEntry("node-4.example.com", "bob", other_key, 22, 16, 512 << 20,
                        "/data/vega work", ("gpu", "ssd"), "/opt/venv/bin/python"),
            WorkerEntry("10.0.0.5", "carol", key, 2200, 4, 8 << 30, "work/w", (), "python3.11"),
        ),
        namenode="hdfs://10.0.0.1:9870",
        secret_file=os.path.expanduser("~/vega-secret"),
    )


def test_yaml_minimal_file_gets_the_built_in_defaults():
    cluster = parse_cluster_text(MASTER + "workers: [10.0.0.2]\n", "c.yaml")
    assert cluster == ClusterFile("c.yaml", ClusterMaster("10.0.0.1", 7077, 8080, "work/master"),
                                  SSHSettings(None, None, 22, 10.0),
                                  (WorkerEntry("10.0.0.2", None, None, 22, None, None,
                                               "work/worker", (), None),),
                                  None, None)
    assert cluster.master.url == "vega://10.0.0.1:7077"
    assert cluster.workers[0].ssh_target == "10.0.0.2"


def test_ipv6_hosts_bare_or_in_brackets_in_both_formats():
    """IPv6 addresses name hosts as Spark's standalone scripts take them: bare, or in brackets
    (as URLs write them); the master's URL brackets its address."""
    cluster = parse_cluster_text("master: {host: 'fd00::1', port: 7077}\n"
                                 "workers: ['fd00::2', 'alice@[fd00::3]', {host: '[fd00::4]'}]\n",
                                 "c.yaml")
    assert cluster.master.host == "fd00::1" and cluster.master.url == "vega://[fd00::1]:7077"
    assert [(w.host, w.user) for w in cluster.workers] == \
        [("fd00::2", None), ("fd00::3", "alice"), ("fd00::4", None)]
    rust = parse_cluster_text('master = "[fd00::1]:7077"\nslaves = ["root@fd00::2"]\n',
                              "hosts.conf")
    assert (rust.master.host, rust.master.port) == ("fd00::1", 7077)
    assert [(w.host, w.user) for w in rust.workers] == [("fd00::2", "root")]
    assert error("master: {host: 'fd00::zz'}\nworkers: [a]\n", "c.yaml") == \
        'c.yaml: master.host "fd00::zz" is not a valid host name (give the port as master.port)'


def test_yaml_empty_values_mean_unset_and_digit_strings_are_numbers():
    cluster = parse_cluster_text("""
master: {host: 10.0.0.1, port: "7001", webui_port: null}
ssh: {user: null, port: "2022"}
defaults: {cores: 2, labels: ""}
workers:
  - {host: 10.0.0.2, cores: null, ssh_port: null, labels: null}
  - {host: 10.0.0.3, cores: "8"}
hdfs:
secret_file:
""", "c.yaml")
    assert (cluster.master.port, cluster.master.webui_port) == (7001, 8080)
    assert cluster.ssh == SSHSettings(None, None, 2022, 10.0)
    assert [(w.cores, w.ssh_port, w.labels) for w in cluster.workers] == [(2, 2022, ()),
                                                                          (8, 2022, ())]
    assert (cluster.namenode, cluster.secret_file) == (None, None)


def test_yaml_sizes_labels_and_namenode_forms():
    cluster = parse_cluster_text(MASTER + """
workers:
  - {host: a, memory: 1.5g, labels: " gpu , rack=3 "}
  - {host: b, memory: 1048576, labels: [zone:eu/1]}
hdfs: namenode.local:9870
""", "c.yaml")
    assert [(w.memory, w.labels) for w in cluster.workers] == [
        (int(1.5 * (1 << 30)), ("gpu", "rack=3")), (1 << 20, ("zone:eu/1",))]
    assert cluster.namenode == "hdfs://namenode.local:9870"
    assert parse_cluster_text(MASTER + "workers: [a]\nhdfs: http://nn:50070/webhdfs\n",
                              "c.yaml").namenode == "http://nn:50070/webhdfs"


def test_same_host_with_another_work_dir_or_ssh_port_is_another_daemon():
    cluster = parse_cluster_text(MASTER + """
workers:
  - 10.0.0.2
  - {host: 10.0.0.2, work_dir: work/worker-2}
  - {host: 10.0.0.2, ssh_port: 2222}
""", "c.yaml")
    ids = [w.daemon_id for w in cluster.workers]
    assert len(set(ids)) == 3
    assert ids[0] == WorkerEntry("10.0.0.2").daemon_id == "10.0.0.2-22-fafab36c6e"
    assert ids[2].startswith("10.0.0.2-2222-")
    # Stable across runs, independent of the user, case of the host and spelling of the path.
    assert WorkerEntry("Node-1", user="x", work_dir="w/./a/").daemon_id == \
        WorkerEntry("node-1", user="y", work_dir="w/a").daemon_id


def test_the_master_is_logged_in_to_with_its_own_keys_else_its_hosts_worker_else_ssh(key):
    """The master section's user/key/ssh_port beat those of a worker entry on the master's
    host (same machine, same sshd), which beat the ssh section (before: the ssh section's
    alone, so a master host whose sshd listens on 2222 was tried on 22)."""
    ssh = f"ssh: {{user: vega, key: {key}, port: 22}}\n"
    same_host = "workers: [{host: n1, user: ops, ssh_port: 2222}, n2]\n"
    assert parse_cluster_text("master: {host: n1}\n" + ssh + same_host,
                              "c.yaml").master_login() == ("ops", key, 2222)
    assert parse_cluster_text("master: {host: N1}\n" + ssh + same_host,
                              "c.yaml").master_login() == ("ops", key, 2222)
    own = parse_cluster_text("master: {host: n1, user: root, ssh_port: 2200}\n" + ssh
                             + same_host, "c.yaml")
    assert own.master == ClusterMaster("n1", user="root", ssh_port=2200)
    assert own.master_login() == ("root", key, 2200)
    assert parse_cluster_text("master: {host: n0}\n" + ssh + same_host,
                              "c.yaml").master_login() == ("vega", key, 22)
    assert parse_cluster_text('master = "n1:7077"\nslaves = ["bob@n1", "n2"]',
                              "h.conf").master_login() == ("bob", None, 22)


def test_entries_are_frozen():
    worker = WorkerEntry("10.0.0.2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        worker.cores = 3


# -- hosts.conf ------------------------------------------------------------------------------

def test_hosts_conf_slaves_tables(tmp_path, key):
    path = write(tmp_path, "hosts.conf", f"""
        master = "10.0.0.1:3000"
        namenode = "10.0.0.9:9870"

        [[slaves]]
        ip = "vega@10.0.0.2"
        key = "{key}"

        [[slaves]]
        ip = "10.0.0.3"
        java_home = "/usr/lib/jvm/java-11"
        hadoop_home = "/opt/hadoop"
    """)
    assert load_cluster_file(path) == ClusterFile(
        path, ClusterMaster("10.0.0.1", 3000, 8080, "work/master"), SSHSettings(),
        (WorkerEntry("10.0.0.2", "vega", key), WorkerEntry("10.0.0.3", None, None)),
        "hdfs://10.0.0.9:9870", None)


def test_hosts_conf_older_slaves_list(tmp_path):
    path = write(tmp_path, "hosts.conf", """
        master = "192.168.0.10:7077"
        slaves = ["worker@192.168.0.2", "worker@192.168.0.3"]
    """)
    assert load_cluster_file(path) == ClusterFile(
        path, ClusterMaster("192.168.0.10", 7077), SSHSettings(),
        (WorkerEntry("192.168.0.2", "worker"), WorkerEntry("192.168.0.3", "worker")))


def test_format_follows_extension_then_content(tmp_path):
    toml = 'master = "10.0.0.1:7077"\nslaves = ["a@10.0.0.2"]\n'
    yaml_text = MASTER + "workers: [a@10.0.0.2]\n"
    for name, text in (("cluster", toml), ("hosts.conf.example", toml), ("my.toml", toml),
                       ("cluster.yml", yaml_text), ("cluster.txt", yaml_text)):
        cluster = load_cluster_file(write(tmp_path, name, text))
        assert cluster.workers == (WorkerEntry("10.0.0.2", "a"),), name
    # A .yaml file is YAML even if it looks like TOML, so the YAML parser reports it.
    assert error(toml, "x.yaml") == ("x.yaml: file must be a mapping with master and workers "
                                     "(see conf/cluster.yaml)")


# -- which file ------------------------------------------------------------------------------

def test_path_argument_beats_env_which_beats_conf_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "conf/cluster.yaml", MASTER + "workers: [from-conf-yaml]\n")
    write(tmp_path, "conf/hosts.conf", 'master = "10.0.0.1:7077"\nslaves = ["from-hosts-conf"]\n')
    env_file = write(tmp_path, "env.yaml", MASTER + "workers: [from-env]\n")
    arg_file = write(tmp_path, "arg.yaml", MASTER + "workers: [from-arg]\n")
    env = {"VEGA_CLUSTER_CONFIG": env_file}

    def chosen(path=None, environ=None):
        cluster = load_cluster_file(path, environ=environ)
        return cluster.path, cluster.workers[0].host

    assert chosen(arg_file, env) == (arg_file, "from-arg")
    assert chosen(None, env) == (env_file, "from-env")
    assert chosen(None, {}) == ("conf/cluster.yaml", "from-conf-yaml")
    assert chosen(None, {"VEGA_CLUSTER_CONFIG": ""}) == ("conf/cluster.yaml", "from-conf-yaml")
    os.remove("conf/cluster.yaml")
    assert chosen(None, {}) == ("conf/hosts.conf", "from-hosts-conf")
    monkeypatch.setenv("VEGA_CLUSTER_CONFIG", env_file)  # environ=None reads os.environ
    assert chosen() == (env_file, "from-env")


def test_conf_dir_follows_vega_conf_dir(tmp_path):
    path = write(tmp_path, "etc/cluster.yaml", MASTER + "workers: [w]\n")
    assert load_cluster_file(environ={"VEGA_CONF_DIR": str(tmp_path / "etc")}).path == path


def test_missing_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_cluster_file(environ={})
    assert str(info.value) == ("conf/cluster.yaml: file does not exist; describe your cluster "
                               "there, or set VEGA_CLUSTER_CONFIG to a cluster file")
    with pytest.raises(ConfigError) as info:
        load_cluster_file(environ={"VEGA_CLUSTER_CONFIG": "nowhere.yaml"})
    assert (info.value.source, info.value.key) == ("nowhere.yaml", "file")
    os.mkdir("adir")
    with pytest.raises(ConfigError, match=r"^adir: file cannot be read: "):
        load_cluster_file("adir")


def test_errors_name_the_real_file(tmp_path):
    path = write(tmp_path, "conf/cluster.yaml", MASTER + "workers: [a, b, {host: c, memory: 1x}]")
    with pytest.raises(ConfigError) as info:
        load_cluster_file(path)
    assert (info.value.source, info.value.key) == (path, "workers[2].memory")
    assert str(info.value) == f'{path}: workers[2].memory "1x" is not a size (e.g. 4g, 512m)'


def test_shipped_examples_parse(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # the examples name ~/.ssh/id_ed25519
    write(tmp_path, ".ssh/id_ed25519", "key\n")
    key = str(tmp_path / ".ssh" / "id_ed25519")
    cluster = load_cluster_file(os.path.join(REPO, "conf", "cluster.yaml"))
    assert cluster.master == ClusterMaster("10.0.0.1", 7077, 8080, "work/master")
    assert cluster.ssh == SSHSettings("vega", key, 22, 10.0,
                                      str(tmp_path / ".ssh" / "known_hosts"))
    assert [(w.ssh_target, w.ssh_port, w.cores, w.memory, w.work_dir, w.labels, w.python)
            for w in cluster.workers] == [
        ("vega@10.0.0.2", 22, 4, 8 << 30, "work/worker", ("linux",), "python3"),
        ("alice@10.0.0.3", 22, 4, 8 << 30, "work/worker", ("linux",), "python3"),
        ("bob@10.0.0.4", 2222, 16, 64 << 30, "/data/vega work", ("gpu", "ssd"),
         "/opt/vega/.venv/bin/python")]
    assert (cluster.namenode, cluster.secret_file) == ("hdfs://10.0.0.1:9870", None)
    hosts = load_cluster_file(os.path.join(REPO, "conf", "hosts.conf.example"))
    assert hosts.master == ClusterMaster("10.0.0.1", 7077)
    assert hosts.workers == (WorkerEntry("10.0.0.2", "vega", key), WorkerEntry("10.0.0.3", "alice"))
    assert hosts.namenode == "hdfs://10.0.0.1:9870"


def test_ssh_known_hosts_is_a_local_path_that_may_not_exist_yet(tmp_path):
    """ssh.known_hosts: ~ expanded and made absolute; a file not there yet is fine."""
    cluster = parse_cluster_text(MASTER + f"ssh: {{known_hosts: {tmp_path}/kh}}\nworkers: [a]\n",
                                 "c.yaml")
    assert cluster.ssh.known_hosts == str(tmp_path / "kh")
    assert parse_cluster_text(MASTER + "workers: [a]\n", "c.yaml").ssh.known_hosts is None


# -- every validation error, exactly -----------------------------------------------------------

WORKER_KEYS = "host, user, key, ssh_port, cores, memory, work_dir, labels, python, resources, webui_port"
BAD_YAML = [
    # the file
    ("master: {host: 10.0.0.1\nworkers: [a]\n",
     "file is not valid YAML (line 2, column 8): expected ',' or '}', but got ':'"),
    ("master:\n  host: a\n\tport: 1\n",
     "file is not valid YAML (line 3, column 1): found character '\\t' that cannot start any token"),
    ("", "file must be a mapping with master and workers (see conf/cluster.yaml)"),
    ("- a\n- b\n", "file must be a mapping with master and workers (see conf/cluster.yaml)"),
    # a key given twice: YAML would keep the last one without a word
    ("master: {host: 10.0.0.1}\nworkers: [a]\nmaster: {host: 10.0.0.9}\n",
     'file is not valid YAML (line 3, column 1): "master" is given twice in one mapping '
     "(first on line 1); keep one"),
    ("master:\n  host: 10.0.0.1\n  port: 7077\n  host: 10.0.0.9\nworkers: [a]\n",
     'file is not valid YAML (line 4, column 3): "host" is given twice in one mapping '
     "(first on line 2); keep one"),
    (MASTER + "workers:\n  - host: a\n    cores: 2\n    cores: 4\n",
     'file is not valid YAML (line 5, column 5): "cores" is given twice in one mapping '
     "(first on line 4); keep one"),
    (MASTER + "workers: [{host: a, host: b}]\n",
     'file is not valid YAML (line 2, column 21): "host" is given twice in one mapping '
     "(first on line 2); keep one"),
    (MASTER + "workers: [a]\nmastr: {}\n", "mastr is not a cluster file key; known keys: master, "
     "ssh, workers, defaults, hdfs, secret_file; did you mean master?"),
    # master
    ("workers: [a]\n", "master is missing; write master: {host: ...}"),
    ("master: 10.0.0.1:7077\nworkers: [a]\n",
     'master must be a mapping with host, port, webui_port, work_dir, user, key, ssh_port, python, not "10.0.0.1:7077"'),
    ("master: {port: 7077}\nworkers: [a]\n", "master.host is missing"),
    ("master: {host: 'a b'}\nworkers: [a]\n", 'master.host "a b" is not a valid host name'),
    ("master: {host: alice@m}\nworkers: [a]\n",
     'master.host "alice@m" is not a valid host name (give the SSH user as master.user)'),
    ("master: {host: '10.0.0.1:7077'}\nworkers: [a]\n",
     'master.host "10.0.0.1:7077" is not a valid host name (give the port as master.port)'),
    ("master: {host: a, prot: 1}\nworkers: [a]\n", "master.prot is not a cluster file key; "
     "known keys: host, port, webui_port, work_dir, user, key, ssh_port, python; did you mean port?"),
    ("master: {host: a, port: 0}\nworkers: [a]\n", "master.port 0 is not a port number (1-65535)"),
    ("master: {host: a, ssh_port: 0}\nworkers: [a]\n",
     "master.ssh_port 0 is not a port number (1-65535)"),
    ("master: {host: a, user: 'a;b'}\nworkers: [a]\n",
     'master.user "a;b" is not a valid user name'),
    ("master: {host: a, webui_port: 65536}\nworkers: [a]\n",
     "master.webui_port 65536 is not a port number (1-65535)"),
    ("master: {host: a, webui_port: 7077}\nworkers: [a]\n",
     "master.webui_port 7077 is the same as master.port"),
    ("master: {host: a, work_dir: ''}\nworkers: [a]\n", 'master.work_dir "" is not a path'),
    # ssh
    (MASTER + "ssh: {key: /nope}\nworkers: [a]\n", 'ssh.key "/nope" does not exist'),
    (MASTER + "ssh: {key: ~/no/such/key}\nworkers: [a]\n", 'ssh.key "~/no/such/key" does not exist'),
    (MASTER + "ssh: {key: /}\nworkers: [a]\n", 'ssh.key "/" is not a file'),
    (MASTER + "ssh: {user: '-oProxyCommand=x'}\nworkers: [a]\n",
     'ssh.user "-oProxyCommand=x" is not a valid user name'),
    (MASTER + "ssh: {port: 70000}\nworkers: [a]\n", "ssh.port 70000 is not a port number (1-65535)"),
    (MASTER + "ssh: {port: true}\nworkers: [a]\n", "ssh.port true is not a port number (1-65535)"),
    (MASTER + "ssh: {connect_timeout: soon}\nworkers: [a]\n",
     'ssh.connect_timeout "soon" is not a number of seconds above 0 and below 86400'),
    (MASTER + "ssh: {connect_timeout: 0}\nworkers: [a]\n",
     "ssh.connect_timeout 0 is not a number of seconds above 0 and below 86400"),
    (MASTER + "ssh: {connect_timeout: .inf}\nworkers: [a]\n",
     "ssh.connect_timeout Infinity is not a number of seconds above 0 and below 86400"),
    (MASTER + "ssh: {connect_timeout: .nan}\nworkers: [a]\n",
     "ssh.connect_timeout NaN is not a number of seconds above 0 and below 86400"),
    (MASTER + "ssh: {password: x}\nworkers: [a]\n",
     "ssh.password is not a cluster file key; known keys: user, key, port, connect_timeout, "
     "known_hosts"),
    (MASTER + "ssh: [vega]\nworkers: [a]\n",
     'ssh must be a mapping with user, key, port, connect_timeout, known_hosts, not ["vega"]'),
    (MASTER + "ssh: {known_hosts: /}\nworkers: [a]\n",
     'ssh.known_hosts "/" is not a file (name a known_hosts file, e.g. ~/.ssh/known_hosts)'),
    (MASTER + "ssh: {known_hosts: /no/such/dir/known_hosts}\nworkers: [a]\n",
     'ssh.known_hosts "/no/such/dir/known_hosts" is in a directory that does not exist'),
    (MASTER + "ssh: {known_hosts: [a]}\nworkers: [a]\n", 'ssh.known_hosts ["a"] is not a path'),
    # defaults
    (MASTER + "defaults: {memory: lots}\nworkers: [a]\n",
     'defaults.memory "lots" is not a size (e.g. 4g, 512m)'),
    (MASTER + "defaults: {user: bob}\nworkers: [a]\n", "defaults.user is not a cluster file key; "
     "known keys: cores, memory, work_dir, python, labels, resources, webui_port"),
    (MASTER + "defaults: {cores: -1}\nworkers: [a]\n", "defaults.cores -1 is not a positive whole number"),
    # workers
    (MASTER, "workers is missing or empty; list at least one worker host"),
    (MASTER + "workers: []\n", "workers is missing or empty; list at least one worker host"),
    (MASTER + "workers: {a: 1}\n", 'workers must be a list of hosts, not {"a": 1}'),
    (MASTER + "workers: [42]\n", 'workers[0] must be a host ("10.0.0.2", "alice@10.0.0.2") or a '
     f"mapping with {WORKER_KEYS}, not 42"),
    (MASTER + "workers: [a, 'a;rm -rf /']\n", 'workers[1].host "a;rm -rf /" is not a valid host name'),
    (MASTER + "workers: [a, {host: '$(reboot)'}]\n",
     'workers[1].host "$(reboot)" is not a valid host name'),
    (MASTER + "workers: [-oProxyCommand=x]\n",
     'workers[0].host "-oProxyCommand=x" is not a valid host name'),
    (MASTER + "workers: ['10.0.0.2:2222']\n",
     'workers[0].host "10.0.0.2:2222" is not a valid host name (give the SSH port as ssh_port)'),
    (MASTER + "workers: ['b d@10.0.0.2']\n",
     'workers[0].host "b d@10.0.0.2" has an invalid user name "b d"'),
    (MASTER + "workers: ['bob@a;b']\n", 'workers[0].host "bob@a;b" has an invalid host name "a;b"'),
    (MASTER + "workers: [{cores: 2}]\n", "workers[0].host is missing"),
    (MASTER + "workers: [{host: a, corse: 2}]\n", "workers[0].corse is not a cluster file key; "
     f"known keys: {WORKER_KEYS}; did you mean cores?"),
    (MASTER + "workers: [{host: a, user: '`id`'}]\n", 'workers[0].user "`id`" is not a valid user name'),
    (MASTER + "workers: [{host: alice@a, user: bob}]\n",
     'workers[0].user "bob" contradicts the user "alice" in workers[0].host'),
    (MASTER + "workers: [{host: a, key: /nope}]\n", 'workers[0].key "/nope" does not exist'),
    (MASTER + "workers: [{host: a, ssh_port: ssh}]\n",
     'workers[0].ssh_port "ssh" is not a port number (1-65535)'),
    (MASTER + "workers: [{host: a, cores: four}]\n", 'workers[0].cores "four" is not a positive whole number'),
    (MASTER + "workers: [{host: a, cores: 0}]\n", "workers[0].cores 0 is not a positive whole number"),
    (MASTER + "workers: [{host: a, cores: 2.5}]\n", "workers[0].cores 2.5 is not a positive whole number"),
    (MASTER + "workers: [{host: a, cores: true}]\n", "workers[0].cores true is not a positive whole number"),
    (MASTER + "workers: [a, b, {host: c, memory: 12 parsecs}]\n",
     'workers[2].memory "12 parsecs" is not a size (e.g. 4g, 512m)'),
    (MASTER + "workers: [{host: a, memory: 1.5}]\n", "workers[0].memory 1.5 is not a size (e.g. 4g, 512m)"),
    (MASTER + "workers: [{host: a, memory: 16}]\n",
     "workers[0].memory 16 is less than 1m (a plain number means bytes; write e.g. 4g)"),
    (MASTER + "workers: [{host: a, work_dir: [x]}]\n", 'workers[0].work_dir ["x"] is not a path'),
    (MASTER + "workers: [{host: a, python: 3}]\n", "workers[0].python 3 is not a path"),
    (MASTER + "workers: [{host: a, labels: gpu node}]\n",
     'workers[0].labels "gpu node" is not a valid label (letters, digits, . _ - : = / +)'),
    (MASTER + "workers: [{host: a, labels: 'gpu,,ssd'}]\n",
     'workers[0].labels "" is not a valid label (letters, digits, . _ - : = / +)'),
    (MASTER + "workers: [{host: a, labels: [gpu, 5]}]\n",
     "workers[0].labels 5 is not a valid label (letters, digits, . _ - : = / +)"),
    (MASTER + "workers: [{host: a, labels: {gpu: 1}}]\n",
     'workers[0].labels {"gpu": 1} is not a list of labels or a comma-separated string'),
    # duplicates: same host (any case), ssh port and work_dir (normalized)
    (MASTER + "workers: [10.0.0.2, b, {host: 10.0.0.2, work_dir: work/worker/}]\n",
     'workers[2] "10.0.0.2" is the same worker daemon as workers[0] (same host, ssh port and '
     "work_dir); give one of them its own work_dir"),
    (MASTER + "ssh: {port: 2222}\nworkers: [Node-1, {host: alice@node-1, ssh_port: 2222}]\n",
     'workers[1] "node-1" is the same worker daemon as workers[0] (same host, ssh port and '
     "work_dir); give one of them its own work_dir"),
    # hdfs, secret_file
    (MASTER + "workers: [a]\nhdfs: {namenode: 'ftp://nn'}\n",
     'hdfs.namenode "ftp://nn" is not a namenode URL (e.g. hdfs://namenode:9870)'),
    (MASTER + "workers: [a]\nhdfs: 'hdfs://nn:99999'\n",
     'hdfs "hdfs://nn:99999" is not a namenode URL (e.g. hdfs://namenode:9870)'),
    (MASTER + "workers: [a]\nhdfs: 'hdfs://a;b:9870'\n",
     'hdfs "hdfs://a;b:9870" is not a namenode URL (e.g. hdfs://namenode:9870)'),
    (MASTER + "workers: [a]\nhdfs: [nn]\n", 'hdfs ["nn"] is not a namenode URL (e.g. hdfs://namenode:9870)'),
    (MASTER + "workers: [a]\nhdfs: {name_node: x}\n",
     "hdfs.name_node is not a cluster file key; known keys: namenode; did you mean namenode?"),
    (MASTER + "workers: [a]\nsecret_file: []\n", "secret_file [] is not a path"),
]


@pytest.mark.parametrize("text, message", BAD_YAML)
def test_cluster_yaml_errors(text, message):
    assert error(text) == "conf/cluster.yaml: " + message


BAD_HOSTS_CONF = [
    ('master = "10.0.0.1:7077"\nslaves = [\n', "file is not valid TOML: Invalid value (at end of document)"),
    ("master = 10.0.0.1:7077\n", "file is not valid TOML: Expected newline or end of document "
     "after a statement (at line 1, column 14)"),
    ('slaves = ["a@b"]\n', 'master is missing (e.g. master = "10.0.0.1:7077", or "[fd00::1]:7077" for an IPv6 address)'),
    ('master = "10.0.0.1"\nslaves = ["a@b"]\n',
     'master "10.0.0.1" is not "ip:port" (e.g. master = "10.0.0.1:7077", or "[fd00::1]:7077" for an IPv6 address)'),
    ('master = "10.0.0.1:99999"\nslaves = ["a@b"]\n',
     'master "10.0.0.1:99999" is not "ip:port" (e.g. master = "10.0.0.1:7077", or "[fd00::1]:7077" for an IPv6 address)'),
    ('master = "a;b:7077"\nslaves = ["a@b"]\n',
     'master "a;b:7077" is not "ip:port" (e.g. master = "10.0.0.1:7077", or "[fd00::1]:7077" for an IPv6 address)'),
    ('master = 7077\nslaves = ["a@b"]\n', 'master 7077 is not "ip:port" (e.g. master = "10.0.0.1:7077", or "[fd00::1]:7077" for an IPv6 address)'),
    ('master = "m:1"\nnameNode = "nn"\n', "nameNode is not a cluster file key; known keys: master, "
     "slaves, namenode; did you mean namenode?"),
    ('master = "m:1"\n', 'slaves is missing or empty; add [[slaves]] tables with ip = "user@ip"'),
    ('master = "m:1"\nslaves = []\n', 'slaves is missing or empty; add [[slaves]] tables with ip = "user@ip"'),
    ('master = "m:1"\nslaves = "a@b"\n', 'slaves must be a list of workers, not "a@b"'),
    ('master = "m:1"\nslaves = ["a@b", "x y"]\n', 'slaves[1] "x y" is not a valid host name'),
    ('master = "m:1"\n[[slaves]]\nip = "a@b"\n[[slaves]]\nip = "bob@a;b"\n',
     'slaves[1].ip "bob@a;b" has an invalid host name "a;b"'),
    ('master = "m:1"\n[[slaves]]\nip = "$(id)@b"\n', 'slaves[0].ip "$(id)@b" has an invalid user name "$(id)"'),
    ('master = "m:1"\n[[slaves]]\nkey = "/nope"\n', 'slaves[0].ip is missing; write ip = "user@ip"'),
    ('master = "m:1"\n[[slaves]]\nip = "a@b"\nkey = "/nope"\n', 'slaves[0].key "/nope" does not exist'),
    ('master = "m:1"\n[[slaves]]\nip = "a@b"\nkye = "/k"\n', "slaves[0].kye is not a cluster file key; "
     "known keys: ip, key, java_home, hadoop_home; did you mean key?"),
    ('master = "m:1"\nslaves = ["a@10.0.0.2", "b@10.0.0.2"]\n',
     'slaves[1] "10.0.0.2" is the same worker daemon as slaves[0] (same host, ssh port and '
     "work_dir); remove one of them (a hosts.conf has no work_dir: to run two workers on one "
     "host, give each its own work_dir in a cluster.yaml)"),
    ('master = "m:1"\nslaves = ["a@b", "10.0.0.3:22"]\n',
     'slaves[1] "10.0.0.3:22" is not a valid host name (give the SSH port as ssh_port in a '
     "cluster.yaml: a hosts.conf has none)"),
    ('master = "m:1"\nslaves = ["a@b"]\nnamenode = "hdfs://"\n',
     'namenode "hdfs://" is not a namenode URL (e.g. hdfs://namenode:9870)'),
]


@pytest.mark.parametrize("text, message", BAD_HOSTS_CONF)
def test_hosts_conf_errors(text, message):
    assert error(text, "conf/hosts.conf") == "conf/hosts.conf: " + message


def test_error_carries_source_and_key_separately():
    with pytest.raises(ConfigError) as info:
        parse_cluster_text(MASTER + "workers: [{host: a, corse: 2}]\n", "conf/cluster.yaml")
    assert (info.value.source, info.value.key) == ("conf/cluster.yaml", "workers[0].corse")
    assert info.value.problem.startswith("is not a cluster file key; known keys: host, ")


def test_the_master_python_is_its_own_else_its_hosts_worker_else_none():
    """master.python names the master host's interpreter; without it, the first worker entry
    on the master's host gives its own (or defaults.python); else None: the control
    machine's path, as before (vega start-cluster ran that path, and the master failed to
    start on a host whose Python lives elsewhere)."""
    text = ("master: {host: n1%s}\ndefaults: {python: /opt/default/python}\n"
            "workers: [{host: n2, python: /n2/python}, %s]\n")
    own = parse_cluster_text(text % (", python: /srv/py", "{host: n1, python: /n1/python}"),
                             "c.yaml")
    assert own.master.python == "/srv/py" and own.master_python() == "/srv/py"
    assert parse_cluster_text(text % ("", "{host: N1, python: /n1/python}"),
                              "c.yaml").master_python() == "/n1/python"
    assert parse_cluster_text(text % ("", "n1"), "c.yaml").master_python() == \
        "/opt/default/python"
    assert parse_cluster_text("master: {host: n1}\nworkers: [{host: n2, python: /p}]\n",
                              "c.yaml").master_python() is None
    with pytest.raises(ConfigError, match=r'master.python " " is not a path'):
        parse_cluster_text("master: {host: n1, python: ' '}\nworkers: [n2]\n", "c.yaml")
