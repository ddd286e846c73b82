"""Cluster commands through the real CLI: start/stop-master, cluster deploy mode,
--supervise, vega logs, vega kill, job packages."""

import json
import os
import re
import shutil
import signal
import subprocess

import pytest

from vega_runtime.net.connection import create_secret_file

from proc_helpers import (clean_env, executor_processes, kill_group, spawn_vega, vega, wait_for,
                          write_job)
from http_helpers import api_get_bytes
from test_cli_errors import error_lines


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A background master (vega start-master) and one 2-core worker, with a secret."""
    home = tmp_path_factory.mktemp("cluster")
    env = {**os.environ, "VEGA_SECRET_FILE": str(home / "secret")}
    env.pop("VEGA_MASTER", None)
    started = vega("start-master", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
                   "--work-dir", str(home / "master"), env=env, cwd=str(home))
    assert started.returncode == 0, started.stderr
    assert "created cluster secret" in started.stdout
    assert oct(os.stat(home / "secret").st_mode & 0o777) == "0o600"
    port = json.loads((home / "master" / "master.ready").read_text())["port"]
    url = f"vega://127.0.0.1:{port}"
    env["VEGA_MASTER"] = url
    worker = spawn_vega("worker", url, "--host", "127.0.0.1", "--cores", "2", "--memory", "2g",
                        "--work-dir", str(home / "worker"), env=env, cwd=str(home),
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                        start_new_session=True)

    def alive_workers():
        result = vega("status", "--json", env=env)
        return result.returncode == 0 and any(
            w["state"] == "alive" for w in json.loads(result.stdout)["workers"])

    wait_for(alive_workers, what="the worker to register")
    yield {"env": env, "url": url, "home": home, "started": started.stdout}
    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(10)
    stopped = vega("stop-master", "--work-dir", str(home / "master"), env=env, cwd=str(home))
    assert "master stopped" in stopped.stdout
    again = vega("stop-master", "--work-dir", str(home / "master"), env=env, cwd=str(home))
    assert again.returncode == 0 and "not running" in again.stdout


def write(path, text):
    path.write_text(text)
    return str(path)


def test_start_master_twice_does_not_start_a_second_one(cluster):
    """start-master on a running master says so, and where it runs, and leaves it alone;
    asked for other ports in that work dir it exits 1 naming the running one (it said
    'already running', exit 0, and the URL of the ports asked for led nowhere)."""
    master_dir = cluster["home"] / "master"
    ready = json.loads((master_dir / "master.ready").read_text())
    pid = int((master_dir / "master.pid").read_text().split()[0])
    url, web = cluster["url"], ready["webui_port"]
    for ports in (["--port", "0"], ["--port", str(ready["port"]), "--webui-port", str(web)]):
        result = vega("start-master", "--host", "127.0.0.1", *ports, "--work-dir",
                      str(master_dir), env=cluster["env"], cwd=str(cluster["home"]))
        assert (result.returncode, result.stdout) == (
            0, f"master already running (pid {pid}) at {url}, web UI on port {web}\n")
    other = ready["port"] + 1 if ready["port"] < 65535 else ready["port"] - 1
    result = vega("start-master", "--host", "127.0.0.1", "--port", str(other), "--work-dir",
                  str(master_dir), env=cluster["env"], cwd=str(cluster["home"]))
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert error_lines(result.stderr) == [
        f"vega: error: cannot start the master in {master_dir}: another master (pid {pid}) uses "
        f"that work dir, at {url} (web UI port {web}); stop it (vega stop-master --work-dir "
        f"{master_dir}) or give this one a work dir of its own"]


def test_start_master_in_a_work_dir_that_cannot_be_made_says_why(tmp_path):
    """A --work-dir under a file: exit 1 naming the work dir, the file in the way and what to
    do; it was 'internal error: FileExistsError ... please report it'."""
    (tmp_path / "afile").write_text("")
    work_dir = tmp_path / "afile" / "master"
    result = vega("start-master", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
                  "--work-dir", str(work_dir), env=clean_env(VEGA_SECRET_FILE=str(
                      tmp_path / "secret")), cwd=str(tmp_path))
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert error_lines(result.stderr) == [
        f"vega: error: cannot start the master in {work_dir}: its work dir cannot be made "
        f"(File exists: {tmp_path / 'afile'}): give one it can create and write (--work-dir)"]
    # the daemons in the foreground: no "free space on its disk", which is not the cause
    for role, args in (("master", []), ("worker", ["vega://127.0.0.1:1"])):
        work_dir = tmp_path / "afile" / role
        result = vega(role, *args, "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
                      "--work-dir", str(work_dir), "--no-secret", cwd=str(tmp_path), timeout=60)
        assert (result.returncode, result.stdout) == (1, ""), result.stderr
        assert error_lines(result.stderr) == [
            f"vega: error: cannot start the {role} in {work_dir}: cannot write {work_dir}/"
            f"{role}.lock (File exists: {tmp_path / 'afile'}): give it a work dir it can "
            "create and write (--work-dir)"], result.stderr


def test_a_second_master_or_worker_in_a_work_dir_in_use_is_refused_naming_the_first(cluster):
    """A master (another port) and a worker started in the work dir of running ones: each
    exits 1 naming the work dir and the pid that holds it, and the running ones serve on.
    Before, a second master started and both wrote one recovery state, token and log (as
    `vega start-master` did where `vega start-cluster` had started a master)."""
    master_dir, worker_dir = cluster["home"] / "master", cluster["home"] / "worker"
    master_pid = int((master_dir / "master.pid").read_text().split()[0])
    for role, work_dir, holder, args in (
            ("master", master_dir, str(master_pid), ["master", "--host", "127.0.0.1"]),
            ("worker", worker_dir, None, ["worker", cluster["url"], "--host", "127.0.0.1"])):
        holder = holder or (work_dir / "worker.lock").read_text().strip()
        result = vega(*args, "--port", "0", "--webui-port", "0", "--work-dir", str(work_dir),
                      env=cluster["env"], cwd=str(cluster["home"]), timeout=60)
        assert result.returncode == 1, result.stdout + result.stderr
        assert (f"vega: error: cannot start the {role} in {work_dir}: another {role} (pid "
                f"{holder}) uses that work dir; stop it") in result.stderr, result.stderr
    status = json.loads(vega("status", "--json", env=cluster["env"]).stdout)
    assert [w["state"] for w in status["workers"]] == ["alive"]


def test_stop_master_stops_the_master_start_cluster_started_in_that_work_dir(tmp_path):
    """start-cluster keeps its master's pidfile in <work_dir>/run; stop-master in the same
    directory stops that master too, as Spark's stop-master.sh stops what start-all.sh
    started. Before, it said 'master is not running' (exit 0) and left it running."""
    from proc_helpers import pid_alive
    from sshd_hosts import free_port

    (tmp_path / "cluster.yaml").write_text(
        f"master: {{host: 127.0.0.1, port: {free_port()}, webui_port: {free_port()}}}\n"
        f"ssh: {{connect_timeout: 1, known_hosts: {tmp_path}/known_hosts}}\n"
        f"secret_file: {tmp_path}/secret\n"
        f"workers: [{{host: 127.0.0.1, ssh_port: {free_port()}}}]\n")  # its row fails
    env = clean_env()
    vega("start-cluster", "--config", "cluster.yaml", cwd=str(tmp_path), env=env)
    pid = int((tmp_path / "work/master/run/master.pid").read_text().split()[0])
    try:
        stopped = vega("stop-master", cwd=str(tmp_path), env=env)
        assert (stopped.returncode, stopped.stdout) == (0, f"master stopped (pid {pid})\n")
        assert not pid_alive(pid)
        again = vega("stop-master", cwd=str(tmp_path), env=env)
        assert (again.returncode, again.stdout) == (0, "master is not running\n")
    finally:
        vega("stop-cluster", "--config", "cluster.yaml", cwd=str(tmp_path), env=env)


def test_status_of_a_workers_shuffle_port_says_it_is_not_a_masters(cluster):
    """`vega status --master vega://WORKER:SHUFFLE_PORT`: exit 3 (the master cannot be
    reached) asking whether this is a master's port. Before: exit 1 and only "connection to
    ... closed" (the shuffle service drops a status request)."""
    worker = json.loads(vega("status", "--json", env=cluster["env"]).stdout)["workers"][0]
    result = vega("status", "--master", f"vega://127.0.0.1:{worker['port']}", env=cluster["env"])
    assert result.returncode == 3, result.stderr
    assert (f"protocol error from 127.0.0.1:{worker['port']}: it closed the connection instead "
            "of answering with its status: is this a master's RPC port (not a worker's "
            "shuffle port or a driver's)?") in result.stderr


def test_master_help_says_drivers_write_their_event_logs_where_their_own_setting_says():
    """vega master --help said '--event-log-dir: Where drivers write event logs'; drivers (the
    cluster-mode ones the master starts too) write where their own vega.eventlog.dir says, so
    a user who set only the master's found the web UI's history without their applications."""
    result = vega("master", "--help")
    text = " ".join(result.stdout.split())
    assert result.returncode == 0 and "Where drivers write event logs" not in text
    assert ("Event logs the web UI lists finished applications from. Drivers write theirs "
            "where their own vega.eventlog.dir says (cluster-mode ones too): give them this "
            "directory for the UI to list them.") in text


def test_start_master_prints_the_url_to_give_workers_and_drivers(cluster):
    """start-master names the master's URL, vega://HOST:PORT, which --host (by default this
    machine's address) and --port (0: any free port) leave unknown to the user: before, it
    printed only 'on port N', and workers, drivers and vega status need the whole URL."""
    first = cluster["started"].splitlines()[1]  # after "created cluster secret ..."
    ready = json.loads((cluster["home"] / "master" / "master.ready").read_text())
    assert re.fullmatch(rf"master started \(pid \d+\) at {re.escape(cluster['url'])}, "
                        rf"web UI on port {ready['webui_port']}", first), first
    printed = first.split(" at ", 1)[1].split(",", 1)[0]
    status = vega("status", "--master", printed, "--json", env=cluster["env"])
    assert json.loads(status.stdout)["master"]["url"] == printed


def test_start_and_stop_master_take_their_settings_from_the_configuration(tmp_path):
    """vega start-master and stop-master resolve the port, web UI port and work dir as
    vega master does (conf/vega-defaults.yaml, VEGA_*, then their options). Before, they
    passed their own defaults (7077, 8080, work/master) as options, so vega master never saw
    the configuration's: start-master tried port 7077 and work/master whatever it said."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "vega-defaults.yaml").write_text(
        "vega.master.port: 0\nvega.master.ui.port: 0\nvega.master.work_dir: site-master\n")
    from proc_helpers import vega_processes

    env = clean_env(VEGA_SECRET_FILE=str(tmp_path / "secret"), VEGA_CONF_DIR=str(tmp_path / "conf"))
    try:
        started = vega("start-master", "--host", "127.0.0.1", env=env, cwd=str(tmp_path))
        assert started.returncode == 0, started.stderr
        ready = json.loads((tmp_path / "site-master" / "master.ready").read_text())
        assert ready["port"] != 7077 and ready["webui_port"] != 8080
        assert f"at vega://127.0.0.1:{ready['port']}, web UI on port {ready['webui_port']}" \
            in started.stdout
        assert not (tmp_path / "work").exists()
        stopped = vega("stop-master", env=env, cwd=str(tmp_path))
        assert stopped.returncode == 0 and "master stopped" in stopped.stdout, stopped.stderr
    finally:  # a master that started elsewhere (the defect) is not left running
        for pid in vega_processes(str(tmp_path)):
            os.kill(pid, signal.SIGKILL)


def test_start_master_on_a_taken_port_says_why_and_leaves_nothing(tmp_path):
    """start-master whose port another process holds: exit 1 with the master's own error
    (the address, Address already in use), what to do and where its output is; no master."""
    import socket

    from proc_helpers import vega_processes

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = vega("start-master", "--host", "127.0.0.1", "--port", str(port),
                      "--webui-port", "0", "--work-dir", str(tmp_path / "master"),
                      "--secret-file", str(tmp_path / "secret"), cwd=str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith(
        f"vega: error: the master did not start: cannot start the master on 127.0.0.1:{port}: "
        f"[Errno 98] Address already in use"), result.stderr
    assert "Another process already listens on that port" in result.stderr
    assert f"(its output: {tmp_path / 'master' / 'master.out'})" in result.stderr
    assert vega_processes(str(tmp_path)) == []


def test_a_module_the_executors_lack_is_named_with_how_to_ship_it(cluster, tmp_path):
    """A task whose function uses a module only the driver can import (found on a path the
    job added, not shipped): the task fails with the module's name and how to ship it, and
    no traceback (it was cloudpickle's import frame, nothing of the user's)."""
    hidden = tmp_path / "only-here"
    hidden.mkdir()
    write(hidden / "hidden_mod.py", "def f():\n    return 7\n")
    job = write(tmp_path / "job.py",
                "import sys\n"
                f"sys.path.insert(0, {str(hidden)!r})\n"
                "import hidden_mod\n"
                "from vega_runtime import Context\n"
                "with Context() as ctx:\n"
                "    print(ctx.parallelize([1], 1).map(lambda x: hidden_mod.f()).collect())\n")
    result = vega("submit", "--conf", "vega.task.max_attempts=1", job, env=cluster["env"],
                  cwd=str(tmp_path))
    assert result.returncode == 1, result.stderr
    failed = [line for line in result.stderr.splitlines() if line.startswith("vega: job f")]
    assert re.fullmatch(r"vega: job failed: task 0 of stage 0 \(RDD created at job\.py:6 in "
                        r"<module>\) failed once; last error on 127\.0\.0\.1 \(exec-\d+\): "
                        r"ModuleNotFoundError: could not load the task on exec-\d+: No module "
                        r"named 'hidden_mod': ship it with the job \(vega submit --py-files, or "
                        r"add_py_file\), or install it where the executors run",
                        failed[0]), result.stderr
    assert "Traceback" not in result.stderr


def test_py_files_reach_executors_through_the_package(cluster, tmp_path):
    """A module given with --py-files is importable in tasks on a separately started worker."""
    helper = tmp_path / "lib"
    helper.mkdir()
    write(helper / "shouting.py", "def shout(x):\n    return str(x).upper() + '!'\n")
    job = write(tmp_path / "job.py",
                "from vega_runtime import Context\n"
                "with Context() as ctx:\n"
                "    print(ctx.parallelize(['a', 'b'], 2)"
                ".map(lambda x: __import__('shouting').shout(x)).collect())\n")
    result = vega("submit", "--py-files", str(helper / "shouting.py"), job, env=cluster["env"],
                  cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "['A!', 'B!']" in result.stdout
    assert "job package" in result.stderr and "sha256" in result.stderr


def test_a_py_files_directory_is_on_the_executors_path_as_on_the_drivers(cluster, tmp_path):
    """--py-files libs (a directory holding the package dirpkg) puts libs on sys.path, as the
    README says and local masters do: tasks on a cluster's executors import dirpkg too. The
    package kept it as py/libs, and only py/ was on their path: 'No module named dirpkg'."""
    (tmp_path / "libs" / "dirpkg").mkdir(parents=True)
    write(tmp_path / "libs" / "dirpkg" / "__init__.py", "def tag(x):\n    return ['dirpkg', x]\n")
    job = write(tmp_path / "job.py",
                "import dirpkg\nfrom vega_runtime import Context\n"
                "with Context() as ctx:\n"
                "    print(dirpkg.tag(0), ctx.parallelize([1, 2], 2)"
                ".map(lambda x: __import__('dirpkg').tag(x)).collect())\n")
    for mode in ("client", "cluster"):
        result = vega("submit", "--deploy-mode", mode, "--py-files", str(tmp_path / "libs"), job,
                      env=cluster["env"])
        assert result.returncode == 0, result.stderr
        assert result.stdout == "['dirpkg', 0] [['dirpkg', 1], ['dirpkg', 2]]\n", mode


def test_a_py_files_directory_with_a_fifo_or_a_device_in_it_is_shipped_without_them(cluster,
                                                                                   tmp_path):
    """A FIFO, a link to /dev/zero and a broken link in a --py-files directory are left out
    of the job package: vega submit waited for ever reading the FIFO (and would have read
    /dev/zero until memory ran out); the directory's modules reach the executors."""
    (tmp_path / "libs").mkdir()
    write(tmp_path / "libs" / "tagged.py", "TAG = 'tagged'\n")
    os.mkfifo(tmp_path / "libs" / "pipe")
    os.symlink("/dev/zero", tmp_path / "libs" / "zero")
    os.symlink(str(tmp_path / "nowhere"), tmp_path / "libs" / "broken")
    job = write(tmp_path / "job.py",
                "from vega_runtime import Context\n"
                "with Context() as ctx:\n"
                "    print(ctx.parallelize([1], 1).map(lambda _: __import__('tagged').TAG)"
                ".collect())\n")
    result = vega("submit", "--py-files", str(tmp_path / "libs"), job, env=cluster["env"],
                  timeout=30)
    assert (result.returncode, result.stdout) == (0, "['tagged']\n"), result.stderr


def test_cluster_deploy_mode_runs_the_driver_on_the_master_and_streams_its_output(cluster, tmp_path):
    """--deploy-mode cluster: output streams back and the exit code is the driver's."""
    data = write(tmp_path / "words.txt", "b a b\nc b\n")
    job = write(tmp_path / "count.py",
                "import sys\nfrom operator import add\nfrom vega_runtime import Context\n"
                "with Context() as ctx:\n"
                "    counts = ctx.text_file(sys.argv[1]).flat_map(str.split)"
                ".map(lambda w: (w, 1)).reduce_by_key(add).collect()\n"
                "    print('counts', sorted(counts))\n")
    result = vega("submit", "--deploy-mode", "cluster", job, data, env=cluster["env"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "counts [('a', 1), ('b', 3), ('c', 1)]" in result.stdout
    driver_id = [w for w in result.stderr.split() if w.startswith("driver-")][0]
    status = json.loads(vega("status", "--json", env=cluster["env"]).stdout)
    driver = [d for d in status["drivers"] if d["id"] == driver_id][0]
    assert driver["state"] == "finished" and driver["exit_code"] == 0


@pytest.mark.parametrize("mode", ["client", "cluster"])
def test_a_secret_file_given_as_a_setting_is_used_in_both_deploy_modes(cluster, tmp_path,
                                                                        mode):
    """--conf vega.secret.file=PATH (what a driver without a secret is told to give): cluster
    mode's submitter connected without it ('the server has a cluster secret and this
    process has none'), as it read only VEGA_SECRET_FILE and ~/.vega/secret."""
    env = {**cluster["env"], "VEGA_CONF_DIR": str(tmp_path / "no-home")}
    secret = env.pop("VEGA_SECRET_FILE")
    job = write(tmp_path / "job.py", "from vega_runtime import Context\n"
                "with Context() as ctx:\n    print('sum', ctx.parallelize([1, 2]).sum())\n")
    result = vega("submit", "--deploy-mode", mode, "--conf", f"vega.secret.file={secret}", job,
                  env=env)
    assert result.returncode == 0, result.stderr
    assert "sum 3" in result.stdout


def test_a_cluster_mode_drivers_stdout_and_stderr_reach_the_submitters_own(cluster, tmp_path):
    """vega submit --deploy-mode cluster job.py > out: the driver's stdout (its prints, its
    tasks') on the submitter's stdout, its stderr (its own, progress, the summary) on its
    stderr, as in client mode; vega logs DRIVER likewise. The master kept them in one file
    and both went to stdout, so the progress lines landed in out."""
    job = write(tmp_path / "streams.py", "\n".join([
        "import sys",
        "from vega_runtime import Context",
        "print('driver-out', flush=True)",
        "print('driver-err', file=sys.stderr, flush=True)",
        "def emit(x):",
        "    print('task-out', x)",
        "    print('task-err', x, file=sys.stderr)",
        "    return x",
        "with Context() as ctx:",
        "    print(ctx.parallelize(range(2), 2).map(emit).collect())", ""]))

    def unprefixed(text):
        return sorted(re.sub(r"^\[127\.0\.0\.1 exec-\d+ 0\.\d\] ", "", line)
                      for line in text.splitlines())

    result = vega("submit", "--deploy-mode", "cluster", job, env=cluster["env"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert unprefixed(result.stdout) == ["[0, 1]", "driver-out", "task-out 0", "task-out 1"], \
        result.stdout
    for line in ("driver-err", "task-err 0", "task-err 1",
                 "stage 0 started: collect at streams.py:10, 2 tasks", "stage 0 finished in "):
        assert line in result.stderr, result.stderr
    driver_id = [w for w in result.stderr.split() if w.startswith("driver-2")][0]
    logs = vega("logs", driver_id, env=cluster["env"])
    assert logs.returncode == 0, logs.stderr
    assert unprefixed(logs.stdout) == unprefixed(result.stdout)
    assert "driver-err" in logs.stderr and "stage 0 started" in logs.stderr
    # the JSON API's output of the driver (what the web UI shows) has both, in the order
    # printed (test_driver_output)
    ready = json.loads((cluster["home"] / "master" / "master.ready").read_text())
    token = (cluster["home"] / "master" / "master.token").read_text().strip()
    status, _, body = api_get_bytes((ready["webui_port"], str(cluster["home"] / "master" /
                                                             "ca.pem")),
                                    f"/api/v1/applications/{driver_id}/output", token)
    text = body.decode()
    assert status == 200 and text.index("driver-out") < text.index("driver-err"), text


def test_cluster_mode_warns_of_job_arguments_that_are_relative_paths_here(cluster, tmp_path):
    """vega submit --deploy-mode cluster job.py words.txt, from the directory holding
    words.txt: the driver runs on the master in its own directory, where the path leads
    nowhere; it said only 'cannot read .../apps/driver-.../words.txt', after the upload. Now
    a warning first names the argument and what to give instead; others pass unremarked."""
    write(tmp_path / "words.txt", "a b\n")
    job = write(tmp_path / "argv.py", "import sys\nprint(sys.argv[1:])\n")
    result = vega("submit", "--deploy-mode", "cluster", "argv.py", "words.txt", "--n", "3",
                  env=cluster["env"], cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "['words.txt', '--n', '3']\n"
    assert result.stderr.splitlines()[0] == (
        "vega: warning: 'words.txt' is a path relative to this directory, but a cluster-mode "
        "driver runs on the master in a directory of its own: give paths every worker can "
        "read (absolute, on a shared file system, or HDFS), or ship files with --files and "
        "open SparkFiles.get(name)")
    absolute = vega("submit", "--deploy-mode", "cluster", job, str(tmp_path / "words.txt"),
                    env=cluster["env"])
    assert absolute.returncode == 0 and "warning" not in absolute.stderr, absolute.stderr


def test_archives_reach_a_cluster_mode_driver_and_its_tasks(cluster, tmp_path):
    """--deploy-mode cluster --archives env.tar.gz#env,tools.zip: the archives travel in the
    job package and the driver the master starts unpacks them as a client-mode one does."""
    from test_cli_submit import ARCHIVES_JOB, ARCHIVES_OUT, write_archives

    archives = write_archives(tmp_path)
    job = write_job(tmp_path, "reads_archives.py", ARCHIVES_JOB)
    result = vega("submit", "--deploy-mode", "cluster", "--archives", archives, job,
                  env=cluster["env"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == ARCHIVES_OUT


def test_a_cluster_mode_drivers_settings_are_not_on_its_command_line(cluster, tmp_path):
    """--deploy-mode cluster --conf vega.executor.env.DB_PASSWORD=...: the driver the master
    starts has the setting (its executors get the variable) but not on its command line,
    which every user of the master's host can read (ps, /proc/PID/cmdline). Before, the
    master passed each setting as --conf KEY=VALUE."""
    job = write(tmp_path / "conf.py",
                "import os\nfrom vega_runtime import Context\n"
                "argv = open('/proc/self/cmdline', 'rb').read()\n"
                "with Context() as ctx:\n"
                "    print('setting', ctx.conf['vega.executor.env.DB_PASSWORD'],"
                " ctx.conf.origin('vega.executor.env.DB_PASSWORD'))\n"
                "    print('executors', ctx.parallelize([0], 1)"
                ".map(lambda _: os.environ['DB_PASSWORD']).collect())\n"
                "    print('on the command line', b'hunter2-pw' in argv)\n")
    result = vega("submit", "--deploy-mode", "cluster", "--conf",
                  "vega.executor.env.DB_PASSWORD=hunter2-pw", job, env=cluster["env"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "setting hunter2-pw command line\n" in result.stdout, result.stdout
    assert "executors ['hunter2-pw']\n" in result.stdout
    assert "on the command line False\n" in result.stdout


def test_vega_status_shows_application_and_driver_names_with_brackets_as_they_are(cluster,
                                                                                  tmp_path):
    """Any user of the cluster names an application or a cluster-mode driver
    "[/daily] [bold red]etl": vega status shows the name as it is. Before, rich read it as
    markup and vega status failed for everyone ("internal error: MarkupError") while the
    master knew that application."""
    job = write(tmp_path / "named.py", "from vega_runtime import Context\n"
                                       "with Context() as ctx:\n"
                                       "    print(ctx.parallelize(range(4), 2).sum())\n")
    name = "[/daily] [bold red]etl"
    for mode in ("client", "cluster"):
        result = vega("submit", "--deploy-mode", mode, "--name", name, job, env=cluster["env"])
        assert result.returncode == 0, result.stderr
    status = vega("status", env={**cluster["env"], "COLUMNS": "300"})
    assert status.returncode == 0, status.stderr
    assert status.stdout.count(f" {name} ") >= 2, status.stdout


def test_supervised_driver_is_restarted_up_to_the_limit(cluster, tmp_path):
    """A failing supervised driver is restarted 3 times; vega submit exits with its code."""
    job = write(tmp_path / "fails.py", "import sys\nprint('attempt', flush=True)\nsys.exit(4)\n")
    result = vega("submit", "--deploy-mode", "cluster", "--supervise", job, env=cluster["env"])
    assert result.returncode == 4
    assert result.stdout.count("attempt") == 4
    assert "restarting (3/3)" in result.stderr
    # the package is announced once, by the submitter, not again by each driver started
    assert (result.stderr.count("vega: job package"), result.stdout.count("job package")) == (1, 0)
    status = json.loads(vega("status", "--json", env=cluster["env"]).stdout)
    restarted = [d for d in status["drivers"] if d["name"] == "fails"][0]
    assert restarted["restarts"] == 3 and restarted["state"] == "failed"


def test_detached_driver_can_be_followed_with_vega_logs(cluster, tmp_path):
    """--detach returns at once; vega logs --follow prints the driver's output to the end."""
    job = write(tmp_path / "hello.py", "print('hello from the cluster')\n")
    result = vega("submit", "--deploy-mode", "cluster", "--detach", job, env=cluster["env"])
    assert result.returncode == 0, result.stderr
    driver_id = [w for w in result.stderr.split() if w.startswith("driver-")][0]
    logs = vega("logs", "--follow", driver_id, env=cluster["env"])
    assert logs.returncode == 0 and "hello from the cluster" in logs.stdout


def test_a_follower_that_left_a_quiet_driver_leaves_no_thread_on_the_master(cluster, tmp_path):
    """`vega logs --follow` stopped (Ctrl-C, SIGKILL, a closed terminal) while the driver it
    followed printed nothing: the master noticed only at the next output, so each such
    follower kept a thread and a connection on it for as long as the driver ran (a day-long
    quiet application: one more for each look at it).  Now it is let go within a poll."""
    from test_master_metrics import scrape

    ready = json.loads((cluster["home"] / "master" / "master.ready").read_text())
    ca_file = str(cluster["home"] / "master" / "ca.pem")

    def established():
        return scrape(ready["webui_port"], ca_file)[
            ("vega_open_connections", (("port", "rpc"), ("state", "established")))]

    job = write(tmp_path / "quiet.py", "import time\ntime.sleep(600)\n")
    result = vega("submit", "--deploy-mode", "cluster", "--detach", job, env=cluster["env"])
    assert result.returncode == 0, result.stderr
    driver_id = [w for w in result.stderr.split() if w.startswith("driver-")][0]
    try:
        before = established()
        for _ in range(3):
            follower = spawn_vega("logs", "--follow", driver_id, env=cluster["env"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
            wait_for(lambda: established() == before + 1, what="the follower connected")
            os.killpg(follower.pid, signal.SIGKILL)
            follower.wait(10)
            wait_for(lambda: established() == before, timeout=5,
                     what="the master to let the gone follower go")
    finally:
        assert vega("kill", driver_id, env=cluster["env"]).returncode == 0


def test_vega_logs_shows_task_output_of_a_finished_application(cluster, tmp_path):
    """The master stores every prefixed task line of a client-mode application, under the
    id the job's Context has (``applicationId``, as in Spark), which names its event log."""
    job = write(tmp_path / "talk.py",
                "from vega_runtime import Context\n"
                "with Context(app_name='talker') as ctx:\n"
                "    ctx.parallelize(range(6), 3).foreach(lambda x: print('line', x))\n"
                "    print('id', ctx.applicationId, ctx.event_log.path)\n")
    submitted = vega("submit", job, env=cluster["env"])
    assert submitted.returncode == 0
    status = json.loads(vega("status", "--json", env=cluster["env"]).stdout)
    app_id = [a["id"] for a in status["applications"] if a["name"] == "talker"][-1]
    # the id vega submit prints is the one the master knows, the Context's and its event log's
    assert re.search(rf"^application {app_id}: web UI ", submitted.stderr, re.M), submitted.stderr
    (said,) = [line.split() for line in submitted.stdout.splitlines() if line.startswith("id ")]
    assert said[1:] == [app_id, os.path.join(os.path.dirname(said[2]), f"{app_id}.jsonl")]
    logs = vega("logs", app_id, env=cluster["env"])
    lines = [line for line in logs.stdout.splitlines() if "line" in line]
    assert sorted(line.split("] ")[1] for line in lines) == [f"line {i}" for i in range(6)]
    assert all(line.startswith("[127.0.0.1 exec-") for line in lines)
    unknown = vega("logs", "app-20000101000000-0042", env=cluster["env"])  # (app-nope: exit 2)
    assert unknown.returncode == 1 and "the master knows no application" in unknown.stderr


def test_task_output_is_stored_by_the_time_vega_submit_exits(cluster, tmp_path):
    """A driver that ends waits (up to 5 s) for the master to take in what it sent: task
    output a slow master had not yet written was missing from ``vega logs`` run as ``vega
    submit`` exited (seen as a flaky test under load). Here the master is stopped
    (SIGSTOP) while the job runs and continued 1.5 s later; the output is in the master's
    output.log when ``vega submit`` exits."""
    master_pid = int((cluster["home"] / "master" / "master.pid").read_text().split()[0])
    job = write(tmp_path / "late.py", f"""
import os, signal, subprocess, sys
from vega_runtime import Context
with Context(app_name='late-talker') as ctx:
    ctx.parallelize(range(2), 2).count()  # executors up: the job needs no master from here
    os.kill({master_pid}, signal.SIGSTOP)
    subprocess.Popen([sys.executable, "-c", "import os, signal, time; time.sleep(1.5); "
                      "os.kill({master_pid}, signal.SIGCONT)"], stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)  # vega submit's output ends with it
    ctx.parallelize(range(6), 3).foreach(lambda x: print('line', x))
""")
    try:
        submitted = vega("submit", job, env=cluster["env"])
    finally:
        os.kill(master_pid, signal.SIGCONT)
    assert submitted.returncode == 0, submitted.stderr
    app_id = re.search(r"^application (\S+): web UI ", submitted.stderr, re.M).group(1)
    output = (cluster["home"] / "master" / "apps" / app_id / "output.log").read_text()
    assert sorted(line.split("] ")[1] for line in output.splitlines() if "] line" in line) \
        == [f"line {i}" for i in range(6)]


def test_vega_kill_cancels_a_running_application(cluster, tmp_path):
    """vega kill stops the job's tasks; its vega submit exits 130 and no executor remains."""
    job = write(tmp_path / "slow.py",
                "import time\nfrom vega_runtime import Context\n"
                "with Context(app_name='sleeper') as ctx:\n"
                "    print('started', flush=True)\n"
                "    ctx.parallelize(range(2), 2).map(lambda x: time.sleep(120)).collect()\n")
    proc = spawn_vega("submit", job, env=cluster["env"], stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True)

    def running_app():
        apps = json.loads(vega("status", "--json", env=cluster["env"]).stdout)["applications"]
        return [a["id"] for a in apps if a["name"] == "sleeper" and a["state"] == "running"]

    app_id = wait_for(running_app, what="the application to run")[0]
    killed = vega("kill", app_id, env=cluster["env"])
    assert killed.returncode == 0 and "killed" in killed.stdout
    assert proc.wait(20) == 130
    assert "killed with vega kill" in proc.stderr.read()
    wait_for(lambda: not executor_processes(app_id), timeout=10, what="executors to exit")


def test_vega_kill_of_what_does_not_run_names_its_kind(cluster):
    """vega kill of a driver id the master does not run says so of a driver, where it said
    'is not a running application' of either."""
    for ident, kind in (("driver-20261205000000-0001", "driver"),
                        ("app-20261205000000-0001", "application")):
        answer = vega("kill", ident, env=cluster["env"])
        assert f"{ident} is not a running {kind}" in answer.stdout + answer.stderr, answer


def test_a_worker_stopped_on_purpose_is_shown_dead(cluster, tmp_path):
    """SIGTERM makes a worker say goodbye: status shows it dead, not lost."""
    proc = spawn_vega("worker", cluster["url"], "--host", "127.0.0.1", "--cores", "1",
                      "--memory", "1g", "--labels", "short-lived",
                      "--work-dir", str(tmp_path / "w"), env=cluster["env"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def state():
        workers = json.loads(vega("status", "--json", env=cluster["env"]).stdout)["workers"]
        mine = [w for w in workers if w["labels"] == ["short-lived"]]
        return mine[0]["state"] if mine else None

    wait_for(lambda: state() == "alive", what="the worker to register")
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(10) == 0
    wait_for(lambda: state() == "dead", timeout=10, what="the worker to be shown dead")


def test_a_killed_supervised_driver_is_restarted(cluster, tmp_path):
    """SIGKILL a supervised cluster-mode driver: the master starts it again."""
    marker = tmp_path / "runs"
    marker.mkdir()
    job = write(tmp_path / "waits.py",
                "import os, sys, time\n"
                f"runs = {str(marker)!r}\n"
                "open(os.path.join(runs, str(os.getpid())), 'w').close()\n"
                "if len(os.listdir(runs)) == 1:\n"
                "    time.sleep(120)\n"
                "print('second run done', flush=True)\n")
    submitted = vega("submit", "--deploy-mode", "cluster", "--supervise", "--detach", job,
                     env=cluster["env"])
    driver_id = [w for w in submitted.stderr.split() if w.startswith("driver-")][0]

    def driver():
        drivers = json.loads(vega("status", "--json", env=cluster["env"]).stdout)["drivers"]
        return [d for d in drivers if d["id"] == driver_id][0]

    wait_for(lambda: os.listdir(marker), what="the driver to start")
    os.kill(int(os.listdir(marker)[0]), signal.SIGKILL)
    wait_for(lambda: driver()["state"] == "finished", timeout=60, what="the restarted driver")
    assert driver()["restarts"] == 1
    logs = vega("logs", driver_id, env=cluster["env"])
    assert "restarting (1/3)" in logs.stderr and "second run done" in logs.stdout


def test_killing_vega_submit_leaves_no_executor(cluster, tmp_path):
    """SIGKILL the client-mode driver (vega submit): its executors exit at once."""
    job = write(tmp_path / "hang.py",
                "import time\nfrom vega_runtime import Context\n"
                "with Context(app_name='orphan-check') as ctx:\n"
                "    ctx.parallelize(range(2), 2).map(lambda x: time.sleep(120)).collect()\n")
    proc = spawn_vega("submit", job, env=cluster["env"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL)

    def app_id():
        apps = json.loads(vega("status", "--json", env=cluster["env"]).stdout)["applications"]
        running = [a["id"] for a in apps if a["name"] == "orphan-check" and a["state"] == "running"]
        return running and executor_processes(running[0]) and running[0]

    running = wait_for(app_id, what="executors of the application")
    proc.kill()
    proc.wait()
    wait_for(lambda: not executor_processes(running), timeout=10, what="the executors to exit")


def test_foreground_daemons_are_secured_by_default(tmp_path):
    """`vega master` with no secret named and none at the default place makes one there
    (0600) and says so; `vega worker` and `vega status` of the same account use it with no
    option; a client with another secret is refused; `--no-secret` is the explicit way to
    run without one, and not together with a secret file."""
    home = tmp_path / "home"
    env = clean_env(VEGA_CONF_DIR=str(home))
    ready = tmp_path / "ready"
    out = tmp_path / "master.out"
    with open(out, "wb") as log:
        master = spawn_vega("master", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
                            "--work-dir", str(tmp_path / "master"), "--ready-file", str(ready),
                            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    worker = None
    try:
        wait_for(lambda: ready.exists() or master.poll() is not None, 60, "the master to start")
        assert master.poll() is None, out.read_text()
        secret = home / "secret"
        assert oct(os.stat(secret).st_mode & 0o777) == "0o600"
        assert (f"WARNING vega_cli: master: created the cluster secret {secret} (mode 0600)"
                in out.read_text())
        assert "without a cluster secret" not in out.read_text()
        url = f"vega://127.0.0.1:{json.loads(ready.read_text())['port']}"
        worker = spawn_vega("worker", url, "--host", "127.0.0.1", "--cores", "1",
                            "--memory", "1g", "--work-dir", str(tmp_path / "worker"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)

        def alive_workers():
            result = vega("status", "--json", "--master", url, env=env)
            assert result.returncode == 0, result.stderr
            return [w for w in json.loads(result.stdout)["workers"] if w["state"] == "alive"]

        wait_for(alive_workers, 60, "the worker to register with the made secret")
        other = tmp_path / "other-secret"
        create_secret_file(str(other))
        refused = vega("status", "--master", url, "--secret-file", str(other), env=env)
        assert refused.returncode != 0 and "secret" in refused.stderr, refused.stderr
        both = vega("worker", url, "--no-secret", "--secret-file", str(secret), env=env)
        assert both.returncode == 2, both.stderr
        assert error_lines(both.stderr) == [f"vega: error: --no-secret and a secret file "
                                            f"({secret}) were both given: drop one"]
    finally:
        for proc in (worker, master):
            if proc is not None:
                kill_group(proc)


def test_a_cluster_mode_drivers_package_goes_when_it_ends(cluster, tmp_path):
    """The package a cluster-mode driver ran from (with its --archives: a packed environment
    may be gigabytes), and the master's unpacked copy of it, are deleted once the driver has
    ended; they stayed in the master's work dir for ever, one pair per job submitted."""
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "marker.txt").write_text(str(tmp_path))  # a package of its own
    archive = shutil.make_archive(str(tmp_path / "env"), "gztar", str(tmp_path / "env"))
    job = write_job(tmp_path, "job.py", "print('ran')\n")
    result = vega("submit", "--deploy-mode", "cluster", "--archives", f"{archive}#env", job,
                  env=cluster["env"])
    assert (result.returncode, result.stdout) == (0, "ran\n"), result.stderr
    sha = re.search(r"job package .* \(sha256 ([0-9a-f]{12})\)", result.stderr).group(1)
    packages = cluster["home"] / "master" / "packages"
    wait_for(lambda: not [n for n in os.listdir(packages) if n.startswith(sha)], 10,
             "the driver's package to be deleted")


def test_drivers_past_max_running_drivers_wait_their_turn(tmp_path):
    """vega.master.max_running_drivers 1: a second cluster-mode driver submitted while the
    first runs waits (submitted, its stderr says why) and runs once the first has ended; a
    third, killed while it waits, never runs. Before, the master started every driver
    submitted at once on its host (a loop of submissions, a process each)."""
    create_secret_file(str(tmp_path / "secret"))
    env = clean_env(VEGA_SECRET_FILE=str(tmp_path / "secret"))
    settings = write(tmp_path / "master.yaml", "vega.master.max_running_drivers: 1\n")
    ready = tmp_path / "ready"
    master = spawn_vega("master", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
                        "--work-dir", str(tmp_path / "master"), "--config", settings,
                        "--ready-file", str(ready), env=env, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: ready.exists() or master.poll() is not None, 60, "the master")
        url = f"vega://127.0.0.1:{json.loads(ready.read_text())['port']}"
        runs = tmp_path / "runs"
        runs.mkdir()
        job = write(tmp_path / "job.py",  # no Context: no worker needed
                    "import os, sys, time\n"
                    f"open(os.path.join({str(runs)!r}, sys.argv[1]), 'w').close()\n"
                    "while not os.path.exists(sys.argv[2]):\n"
                    "    time.sleep(0.02)\n")
        ids = []
        for name in ("first", "second", "third"):
            submitted = vega("submit", "--master", url, "--deploy-mode", "cluster", "--detach",
                             job, name, str(tmp_path / f"go-{name}"), env=env)
            assert submitted.returncode == 0, submitted.stderr
            ids.append(re.search(r"driver (driver-\S+) submitted", submitted.stderr).group(1))

        def states():
            status = json.loads(vega("status", "--master", url, "--json", env=env).stdout)
            return [d["state"] for d in status["drivers"]]

        def stderr_of(driver_id):
            return vega("logs", "--master", url, driver_id, env=env).stderr

        wait_for(lambda: "vega: waiting" in stderr_of(ids[2]), 30, "the third to wait")
        assert os.listdir(runs) == ["first"] and states() == ["running", "submitted",
                                                               "submitted"]
        assert stderr_of(ids[1]).splitlines() == [
            "vega: waiting: 1 cluster-mode drivers run on this master already "
            "(vega.master.max_running_drivers 1); this one starts when one ends"]
        assert vega("kill", "--master", url, ids[2], env=env).returncode == 0
        (tmp_path / "go-first").touch()
        wait_for(lambda: (runs / "second").exists(), 30, "the second driver to run")
        (tmp_path / "go-second").touch()
        wait_for(lambda: states() == ["finished", "finished", "killed"], 30, "both to finish")
        assert sorted(os.listdir(runs)) == ["first", "second"]
    finally:
        kill_group(master)
