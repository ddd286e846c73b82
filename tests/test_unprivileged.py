"""Vega as an ordinary account, not root: ``vega`` run as uid 65534 (``nobody``, whose home
/nonexistent does not exist) with the directories it may use chowned to it.  The process
under test keeps one capability, CAP_DAC_READ_SEARCH (ambient, so its children keep it
too): this interpreter may live under root's 0700 home (pyenv), and an account that
installed Vega can read its own Python; writing stays an ordinary account's.  Root only."""

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from proc_helpers import (REPO, clean_env, read_text, stop_processes, vega, vega_argv,
                          wait_for, write_job)
from vega_runtime.net.connection import create_secret_file
from vega_testing.webhdfs import WebHDFSServer

NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                                reason="drops to another account with setpriv")


@pytest.fixture
def own_dir():
    """A directory of nobody's (0700) in /tmp: the working directory of the account."""
    path = tempfile.mkdtemp(prefix="vega-nonroot-", dir="/tmp")
    os.chown(path, NOBODY, NOBODY)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def pi_job(directory: str) -> str:
    """A copy of jobs/pi.py in ``directory`` that any account may read: the checkout may be
    in a directory only root can enter (a CI's clone under a 0700 temporary directory),
    and click checks the job's readability with access(2), which ignores the capability
    these accounts keep to run this interpreter."""
    path = os.path.join(directory, "pi.py")
    shutil.copyfile(os.path.join(REPO, "jobs", "pi.py"), path)
    os.chmod(path, 0o644)
    return path


def as_nobody(*args: str, cwd: str, timeout: float = 60, uid: int = NOBODY,
              umask: str = "022", **env: str) -> subprocess.CompletedProcess:
    """``vega ARGS`` as uid/gid ``uid`` (65534) with ``umask`` in ``cwd``, HOME /nonexistent
    (nobody's) unless ``env`` names another (None: unset), and none of the tests' VEGA_*
    variables (their VEGA_CONF_DIR, event log dir), its output captured as text."""
    dropped = ("USER", "LOGNAME", "HADOOP_USER_NAME", "XDG_CACHE_HOME")
    environment = {k: v for k, v in clean_env(HOME="/nonexistent", PYTHONPATH=REPO).items()
                   if k not in dropped and not k.startswith("VEGA_")}
    return subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
         "--inh-caps=-all,+dac_read_search", "--ambient-caps=+dac_read_search",
         "sh", "-c", f'umask {umask} && exec "$@"', "sh", *vega_argv(*args)],
        cwd=cwd, env={k: v for k, v in {**environment, **env}.items() if v is not None},
        capture_output=True, text=True, timeout=timeout)


def test_start_master_under_an_unwritable_home_says_where_the_secret_could_go(own_dir):
    """``vega start-master`` as an account whose home it cannot write (nobody's
    /nonexistent) had no secret file and made the default one, ~/.vega/secret: 'internal
    error: PermissionError: [Errno 13] Permission denied: '/nonexistent'' and 'please report
    it'.  Now exit 2 and what to do, as ``vega master`` says; nothing is started."""
    done = as_nobody("start-master", "--port", "0", "--webui-port", "0", cwd=own_dir)
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr.splitlines()[-1] == (
        "vega: error: the cluster secret could not be created at /nonexistent/.vega/secret "
        "(Permission denied): name one with --secret-file (or VEGA_SECRET_FILE), or set "
        "VEGA_CONF_DIR to a directory of yours"), done.stderr
    assert not os.path.exists(os.path.join(own_dir, "work", "master", "master.pid"))


def test_a_driver_metrics_port_below_1024_says_it_is_roots(own_dir):
    """``vega.driver.metrics.port`` 99 as an account not root: the job died of its
    Context's ``PermissionError: [Errno 13] Permission denied``, a traceback through
    socketserver and no word of the setting.  Now the setting, the address and what to do."""
    done = as_nobody("submit", "--master", "local", "--conf", "vega.eventlog.dir=",
                     "--conf", "vega.driver.metrics.port=99", pi_job(own_dir),
                     "10", cwd=own_dir)
    assert (done.returncode, done.stdout) == (1, ""), done.stderr
    assert done.stderr.splitlines()[0] == (
        "vega: job failed: command line: vega.driver.metrics.port 99: the driver's /metrics "
        "cannot listen on 127.0.0.1:99 (Permission denied). Ports below 1024 are for root "
        "(or a process granted CAP_NET_BIND_SERVICE): give this one a port of 1024 or above "
        "(0: any free port)."), done.stderr
    assert "Traceback" not in done.stderr


def test_a_master_port_below_1024_says_it_is_roots(own_dir):
    """``vega master --port 77`` as an account not root said only '[Errno 13] Permission
    denied (while attempting to bind ...)': now also why and what to do, as a port in use
    does."""
    done = as_nobody("master", "--host", "127.0.0.1", "--port", "77", "--webui-port", "0",
                     "--no-secret", cwd=own_dir)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-2:] == [
        "vega: error: cannot start the master on 127.0.0.1:77: [Errno 13] Permission denied "
        "(while attempting to bind on address ('127.0.0.1', 77))",
        "Ports below 1024 are for root (or a process granted CAP_NET_BIND_SERVICE): give this "
        "one a port of 1024 or above (0: any free port)."], done.stderr


def test_hdfs_io_of_an_account_without_a_name_says_how_to_name_the_hdfs_user(own_dir):
    """A container's uid (4242) with no passwd entry and no USER: writing to hdfs:// ended
    in ``KeyError: 'getpwuid(): uid not found: 4242'`` from getpass (the WebHDFS user is the
    account's name).  Now an HdfsError saying to set vega.hdfs.user; with HADOOP_USER_NAME
    the same job writes and reads as that user."""
    os.chown(own_dir, 4242, 4242)
    with WebHDFSServer(tempfile.mkdtemp(dir=own_dir)) as server:
        url = "hdfs://" + server.namenode_url.split("://", 1)[1] + "/out"
        job = write_job(own_dir, "hdfs_job.py", f"""
            from vega_runtime import Context
            with Context(conf={{"vega.eventlog.dir": ""}}) as ctx:
                ctx.parallelize(range(3), 2).save_as_text_file({url!r})
                print(sorted(ctx.text_file({url!r}).collect()))
            """)
        os.chmod(job, 0o644)
        done = as_nobody("submit", "--master", "local[2]", job, cwd=own_dir, uid=4242)
        assert (done.returncode, done.stdout) == (1, ""), done.stderr
        summary, error = done.stderr.splitlines()[:2]  # (the summary: no job ran)
        assert summary.endswith(": 0 jobs, 0 stages, 0 tasks, shuffle 0 B written / 0 B "
                                "read, 0 failed task attempts; no event log"), done.stderr
        assert error == (
            f"vega: job failed: HDFS {url}: this account (uid 4242) has no user name (no "
            "passwd entry; USER and LOGNAME unset) to act as on HDFS: name the HDFS user with "
            "vega.hdfs.user (or HADOOP_USER_NAME)"), done.stderr
        done = as_nobody("submit", "--master", "local[2]", job, cwd=own_dir, uid=4242,
                         HADOOP_USER_NAME="carol")
        assert (done.returncode, done.stdout) == (0, "['0', '1', '2']\n"), done.stderr


@pytest.fixture
def cluster_of_another_account():
    """A master and a 1-core worker run by another account than the driver's: root without
    the capabilities that pass file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), as
    a cluster's service account; yields ``(url, secret)``, the secret a copy nobody owns."""
    home = tempfile.mkdtemp(prefix="vega-service-", dir="/tmp")
    os.chmod(home, 0o755)
    secret = os.path.join(home, "secret")
    create_secret_file(secret)
    drop = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search"]
    env = clean_env(VEGA_SECRET_FILE=secret, PYTHONPATH=REPO)
    quiet = dict(cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                 start_new_session=True)
    ready = os.path.join(home, "master.ready")
    procs = [subprocess.Popen(drop + vega_argv(
        "master", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0", "--work-dir",
        os.path.join(home, "master"), "--ready-file", ready), **quiet)]
    try:
        port = wait_for(lambda: os.path.exists(ready) and read_text(ready) and
                        json.loads(read_text(ready))["port"], what="the master")
        url = f"vega://127.0.0.1:{port}"
        procs.append(subprocess.Popen(drop + vega_argv(
            "worker", url, "--host", "127.0.0.1", "--cores", "1", "--memory", "1g",
            "--webui-port", "0", "--work-dir", os.path.join(home, "worker")), **quiet))
        wait_for(lambda: '"alive"' in vega("status", "--master", url, "--json", env=env).stdout,
                 what="the worker to register")
        copy = tempfile.mkdtemp(prefix="vega-secret-", dir="/tmp")
        shutil.copy(secret, os.path.join(copy, "secret"))
        for path in (copy, os.path.join(copy, "secret")):
            os.chown(path, NOBODY, NOBODY)
        yield url, os.path.join(copy, "secret")
        shutil.rmtree(copy)
    finally:
        stop_processes(procs, home)
        shutil.rmtree(home, ignore_errors=True)


def test_output_the_executors_account_may_not_write_says_so(own_dir, cluster_of_another_account):
    """A driver of nobody's (umask 077) saving into its own directory on a cluster whose
    executors run as another account: each task said '... is no longer being written (its
    job has ended): nothing was written' (the executor could not look into the driver's
    0700 ``_temporary`` and took it for gone).  Now it says which account may not write
    there and what to do; nothing is left at the path."""
    url, secret = cluster_of_another_account
    out = os.path.join(own_dir, "out")
    job = write_job(own_dir, "save.py", f"""
        from vega_runtime import Context
        with Context(conf={{"vega.eventlog.dir": "", "vega.task.max_attempts": 1}}) as ctx:
            ctx.parallelize(range(4), 1).save_as_text_file({out!r})
        """)
    os.chmod(job, 0o644)
    done = as_nobody("submit", "--master", url, job, cwd=own_dir, umask="077",
                     VEGA_SECRET_FILE=secret)
    assert done.returncode == 1, done.stderr
    assert (f"PermissionError: [Errno 13] cannot write {out} as root (uid 0) (Permission "
            f"denied: {out}/_temporary): save where this account can write; tasks write "
            "their parts as the account of their executors, which may not be the driver's"
            ) in done.stderr, done.stderr
    assert not os.path.exists(out)


def test_a_checkpoint_the_executors_account_may_not_write_says_so(own_dir,
                                                                 cluster_of_another_account):
    """A driver of nobody's checkpointing into a directory of its own on a cluster whose
    executors run as another account: each task failed with a bare 'PermissionError:
    [Errno 13] Permission denied: .../rdd-1/part-00000.tmp' (the driver makes the
    checkpoint directory 0700).  Now it says which account may not write there and what
    to do, as a save does."""
    url, secret = cluster_of_another_account
    checkpoints = os.path.join(own_dir, "checkpoints")
    job = write_job(own_dir, "checkpoint.py", f"""
        from vega_runtime import Context
        with Context(conf={{"vega.eventlog.dir": "", "vega.task.max_attempts": 1}}) as ctx:
            ctx.set_checkpoint_dir({checkpoints!r})
            rdd = ctx.parallelize(range(4), 1)
            rdd.checkpoint()
            rdd.count()
        """)
    os.chmod(job, 0o644)
    done = as_nobody("submit", "--master", url, job, cwd=own_dir, umask="077",
                     VEGA_SECRET_FILE=secret)
    assert done.returncode == 1, done.stderr
    directory, = os.listdir(checkpoints)  # the application's, under the one given
    part = os.path.join(checkpoints, directory, "rdd-0", "part-00000.tmp")
    assert (f"PermissionError: [Errno 13] cannot write the checkpoint of RDD 0 to "
            f"{os.path.join(checkpoints, directory)} as root (uid 0) (Permission denied: "
            f"{part}): tasks write checkpoints as the account of their executors, and the "
            "checkpoint directory is the driver's (0700); checkpoint where the executors' "
            "account can write (set_checkpoint_dir an HDFS URL, say), or run the executors "
            "as the driver's account") in done.stderr, done.stderr


def _account_with_a_group_of_its_own():
    """``(uid, gid)`` of an account (not root) whose primary group is its alone: no other
    account's primary group, no other member (``www-data``, ``daemon`` ... in a container),
    or None."""
    import grp
    import pwd

    entries = pwd.getpwall()
    for entry in entries:
        try:
            members = grp.getgrgid(entry.pw_gid).gr_mem
        except KeyError:
            continue
        if entry.pw_uid and set(members) <= {entry.pw_name} and \
                [e.pw_uid for e in entries if e.pw_gid == entry.pw_gid] == [entry.pw_uid]:
            return entry.pw_uid, entry.pw_gid
    return None


def test_a_scratch_dir_of_0775_in_the_accounts_own_group_is_private_enough(own_dir):
    """Under umask 002 (Debian's and Ubuntu's for users with a group of their own), every
    directory a user makes is 0775 in that group: a job with TMPDIR there failed ('... (mode
    0775) is above ... and group or others may write to it'), as a master with its work dir
    below one did.  A group no other account is in is the account's own (Debian's OpenSSH
    judges so): the job runs."""
    account = _account_with_a_group_of_its_own()
    if account is None:
        pytest.skip("no account here has a group of its own")
    uid, gid = account
    scratch = os.path.join(own_dir, "scratch")
    os.mkdir(scratch)
    os.chmod(scratch, 0o775)
    os.chown(own_dir, uid, gid)
    os.chown(scratch, uid, gid)
    job = write_job(own_dir, "sum.py", """
        from vega_runtime import Context
        with Context(conf={"vega.eventlog.dir": ""}) as ctx:
            print(ctx.parallelize(range(4), 2).sum())
        """)
    os.chmod(job, 0o644)
    done = subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
         "--inh-caps=-all,+dac_read_search", "--ambient-caps=+dac_read_search",
         "sh", "-c", 'umask 002 && exec "$@"', "sh",
         *vega_argv("submit", "--master", "local[2]", job)],
        cwd=own_dir, env=clean_env(HOME=own_dir, TMPDIR=scratch, PYTHONPATH=REPO),
        capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "6\n"), done.stderr


def test_defaults_file_of_another_account_in_the_working_directory_is_not_read(own_dir):
    """``vega submit`` run in a directory others can write to (/tmp) read the
    ``conf/vega-defaults.yaml`` another account put there: its ``vega.py_files`` went on
    the driver's sys.path before the job's own imports, and a module of theirs named as one
    the job imports ran as this account (a probe copied the victim's ~/.vega/secret out).
    Now exit 2 saying whose it is and what to do; VEGA_CONF_DIR naming it reads it."""
    shared = tempfile.mkdtemp(prefix="vega-shared-", dir="/tmp")
    try:
        os.chmod(shared, 0o1777)  # as /tmp
        conf, code = os.path.join(shared, "conf"), os.path.join(shared, "code")
        for path in (conf, code):
            os.mkdir(path)
        marker = os.path.join(shared, "ran")
        with open(os.path.join(code, "theirs.py"), "w") as fh:
            fh.write(f"open({marker!r}, 'w').close()\n")
        with open(os.path.join(conf, "vega-defaults.yaml"), "w") as fh:
            fh.write(f"vega.py_files: {code}/theirs.py\nvega.eventlog.dir: ''\n")
        files = [os.path.join(d, f) for d in (conf, code) for f in os.listdir(d)]
        for path in (conf, code, *files):
            os.chown(path, 4242, 4242)  # another account's
        job = write_job(own_dir, "imports.py", """
            import theirs
            print("imported")
            """)
        os.chmod(job, 0o644)
        done = as_nobody("submit", "--master", "local", job, cwd=shared)
        assert (done.returncode, done.stdout) == (2, ""), done.stderr
        assert done.stderr.splitlines()[0] == (
            f"vega: error: {conf}/vega-defaults.yaml is not read: {conf} belongs to uid 4242, "
            "not to this account, nobody (uid 65534) (its vega.py_files or vega.master could "
            "run their code as this account). Run vega from a directory of yours, or name the "
            "directory with VEGA_CONF_DIR if you trust the file")
        assert not os.path.exists(marker)
        with open(os.path.join(conf, "cluster.yaml"), "w") as fh:  # and a cluster file
            fh.write("master: {host: 127.0.0.1}\nworkers: [127.0.0.1]\n")
        os.chown(os.path.join(conf, "cluster.yaml"), 4242, 4242)
        done = as_nobody("start-cluster", cwd=shared)
        assert (done.returncode, done.stdout) == (2, ""), done.stderr
        assert done.stderr.splitlines()[0].startswith(
            f"vega: error: {conf}/cluster.yaml is not read: {conf} belongs to uid 4242, not to "
            "this account, nobody (uid 65534) (its hosts would get the cluster secret, and run "
            "the commands it names)"), done.stderr
        done = as_nobody("submit", "--master", "local", job, cwd=shared, VEGA_CONF_DIR="conf")
        assert (done.returncode, done.stdout) == (0, "imported\n"), done.stderr
    finally:
        shutil.rmtree(shared)


def test_bootstrap_under_an_unwritable_home_says_where_the_wheels_could_go(own_dir):
    """``vega start-cluster --bootstrap`` as an account whose home it cannot write: the
    wheels' cache, ~/.cache/vega, could not be made ('internal error: PermissionError ...
    please report it').  Now what to do (XDG_CACHE_HOME, which it follows now, as pip
    does), before anything is started."""
    import socket

    with socket.socket() as probe:  # a port no master listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cluster = os.path.join(own_dir, "cluster.yaml")
    with open(cluster, "w") as fh:
        fh.write(f"master: {{host: 127.0.0.1, port: {port}}}\nworkers: [127.0.0.1]\n"
                 f"secret_file: {own_dir}/secret\n")
    os.chmod(cluster, 0o644)
    done = as_nobody("start-cluster", "--config", cluster, "--bootstrap", cwd=own_dir)
    assert (done.returncode, done.stderr.splitlines()[-2:]) == (1, [
        "vega: error: --bootstrap cannot keep the wheels it builds in "
        "/nonexistent/.cache/vega (Permission denied: /nonexistent)",
        "Set XDG_CACHE_HOME to a directory of yours (the wheels go in its vega/), as pip's "
        "cache follows it; nothing was started"]), done.stderr


def as_root_without_dac(*args: str, home: str) -> subprocess.CompletedProcess:
    """``vega ARGS`` as root without the capabilities that pass file permissions (as another
    account meets the files of nobody's), HOME ``home``, in it, without VEGA_CONF_DIR."""
    env = {k: v for k, v in clean_env(HOME=home, PYTHONPATH=REPO).items()
           if k != "VEGA_CONF_DIR"}
    return subprocess.run(["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                           "--bounding-set=-dac_override,-dac_read_search", *vega_argv(*args)],
                          cwd=home, env=env, capture_output=True, text=True, timeout=60)


def test_a_default_secret_behind_a_directory_of_another_account_says_it_cannot_be_read(own_dir):
    """~/.vega made another account's (``sudo -E vega start-master`` makes it root's, 0700):
    ``vega status`` took the secret in it for absent and, connecting without one, said
    'this process has none ... or put it at ~/.vega/secret', the file that is there; a
    daemon said it 'could not be created'.  Now: it cannot be read, and what to do.  (Run
    as root without the capabilities that pass file permissions, the directory nobody's.)"""
    os.chmod(own_dir, 0o755)  # the home: only its .vega is closed
    vega_dir = os.path.join(own_dir, ".vega")
    create_secret_file(os.path.join(vega_dir, "secret"))
    for path in (vega_dir, os.path.join(vega_dir, "secret")):
        os.chown(path, NOBODY, NOBODY)
    done = as_root_without_dac("status", "--master", "vega://127.0.0.1:1", home=own_dir)
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr.splitlines()[0] == (
        f"vega: error: secret file '{vega_dir}/secret' cannot be read (Permission denied): "
        "make it readable to this account (owned by it, mode 0600)"), done.stderr


def test_history_of_an_event_log_directory_it_cannot_read_says_so(own_dir):
    """``vega history --dir D``, D another account's (0711: it may pass, not list): an empty
    table, as if no application had run; with APP_ID, 'no event log for APP_ID'.  Now
    both say D cannot be read, and why."""
    os.chmod(own_dir, 0o711)
    for args in ((), ("app-20261207004050-4fde",)):
        done = as_root_without_dac("history", *args, "--dir", own_dir, home="/tmp")
        assert (done.returncode, done.stdout) == (1, ""), done.stderr
        assert done.stderr.splitlines() == [
            f"vega: error: cannot read the event log directory {own_dir} (Permission denied: "
            f"{own_dir})", "It is another account's, or closed to this one: read it as its "
            "owner, or give another directory with --dir"], done.stderr


@pytest.mark.parametrize("umask", ["022", "002"])
def test_output_files_on_a_cluster_have_the_modes_of_the_drivers_umask(own_dir, umask):
    """save_as_text_file on local-cluster under umask 022: the directory 0755, _SUCCESS
    0644, but the part files 0600 (the executors' private umask, 077), where local[N] gave
    0644: output shared with a group or a web server could not be read.  Now the part
    files have the mode the driver's umask gives, on every master."""
    out = os.path.join(own_dir, "out")
    job = write_job(own_dir, "save.py", f"""
        from vega_runtime import Context
        with Context(conf={{"vega.eventlog.dir": ""}}) as ctx:
            ctx.parallelize(range(4), 2).save_as_text_file({out!r})
        """)
    os.chmod(job, 0o644)
    done = as_nobody("submit", "--master", "local-cluster[1,1]", job, cwd=own_dir,
                     umask=umask, timeout=120)
    assert done.returncode == 0, done.stderr
    modes = {name: oct(os.stat(os.path.join(out, name)).st_mode & 0o777)
             for name in ("", "_SUCCESS", "part-00000", "part-00001")}
    files = "0o644" if umask == "022" else "0o664"
    assert modes == {"": "0o755" if umask == "022" else "0o775", "_SUCCESS": files,
                     "part-00000": files, "part-00001": files}


def test_an_account_without_a_home_gets_no_literal_tilde_directory(own_dir):
    """A container's uid (4242) with no passwd entry and HOME unset: ``~`` cannot be
    expanded, and expanduser leaves it, so 'vega submit' wrote its event log to
    ./~/.vega/events and 'vega master' its secret to ./~/.vega/secret, a directory named
    ``~`` in the working directory (a secret per directory, and ``rm -rf ~`` from the shell
    removes the user's real home instead).  Now each says there is no home and what to do,
    and nothing named ``~`` is made; a job with no event log runs."""
    os.chown(own_dir, 4242, 4242)
    pi = pi_job(own_dir)
    done = as_nobody("submit", "--master", "local", pi, "10", cwd=own_dir, uid=4242,
                     HOME=None)
    assert (done.returncode, done.stdout) == (1, ""), done.stderr
    assert done.stderr.splitlines()[0] == (
        "vega: job failed: vega.eventlog.dir ~/.vega/events is in a home directory, and this "
        "account has none: HOME is unset and uid 4242 has no passwd entry. Set HOME to a "
        "directory of yours"), done.stderr
    done = as_nobody("master", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
                     cwd=own_dir, uid=4242, HOME=None)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "vega: error: the cluster secret ~/.vega/secret is in a home directory, and this "
        "account has none: HOME is unset and uid 4242 has no passwd entry. Set HOME to a "
        "directory of yours"), done.stderr
    assert not os.path.exists(os.path.join(own_dir, "~"))
    done = as_nobody("submit", "--master", "local", "--conf", "vega.eventlog.dir=", pi, "10",
                     cwd=own_dir, uid=4242, HOME=None)
    assert done.returncode == 0 and done.stdout.startswith("Pi is roughly"), done.stderr


def test_a_cluster_mode_drivers_output_has_the_modes_of_the_submitters_umask(tmp_path):
    """``vega submit --deploy-mode cluster`` under umask 022: the driver ran under the
    master's private umask (077), so its output was a 0700 directory of 0600 files, where
    the same job in client mode gave 0755 and 0644.  The submission now carries the
    submitter's umask (vega.submit.umask) and the master starts the driver under it."""
    from proc_helpers import master_and_worker

    out = tmp_path / "out"
    job = write_job(tmp_path, "save.py", f"""
        from vega_runtime import Context
        with Context(conf={{"vega.eventlog.dir": ""}}) as ctx:
            ctx.parallelize(range(4), 2).save_as_text_file({str(out)!r})
        """)
    with master_and_worker(tmp_path / "cluster") as cluster:
        done = subprocess.run(["sh", "-c", 'umask 022 && exec "$@"', "sh", *vega_argv(
            "submit", "--master", cluster["url"], "--deploy-mode", "cluster", job)],
            cwd=REPO, env=cluster["env"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert {name: oct(os.stat(os.path.join(out, name)).st_mode & 0o777)
            for name in ("", "_SUCCESS", "part-00000", "part-00001")} == {
        "": "0o755", "_SUCCESS": "0o644", "part-00000": "0o644", "part-00001": "0o644"}
