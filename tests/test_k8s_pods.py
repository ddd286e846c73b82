"""k8s/'s containers run as the manifests say, on "pods" made of network namespaces.

No Kubernetes runs here, so this plays its part with real processes: each pod is a network
namespace with its own address on one bridge; the Service ``vega-master`` is a name that
resolves, in every pod, to the master pod (``ip netns exec`` mounts
``/etc/netns/POD/hosts`` over /etc/hosts, as cluster DNS would answer); volumes are
directories (the Secret's file, each pod's emptyDir, the image's /opt/vega = this
checkout); ``$(VAR)``s are expanded from the downward API's values.  Then each container
runs its manifest's ``args`` with the real ``vega``: the master, two workers, the example
driver Job, kubelet's probes, and a cluster-mode submit through a port-forward (a TCP
relay on the "laptop"'s localhost, like ``kubectl port-forward``).

Layout: bridge s18-kbr in namespace s18-kctl (10.119.0.1, the laptop and kubelet),
pods s18-kmaster 10.119.0.10, s18-kw1 .11, s18-kw2 .12, s18-kjob .13.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from proc_helpers import REPO, clean_env, vega_argv, wait_for
from sshd_hosts import in_netns, kill_tree

K8S = os.path.join(REPO, "k8s")
CONTROL = "s18-kctl"
BRIDGE = "s18-kbr"
SUBNET = "10.119.0."
PODS = {"s18-kmaster": SUBNET + "10", "s18-kw1": SUBNET + "11", "s18-kw2": SUBNET + "12",
        "s18-kjob": SUBNET + "13"}
MASTER_IP = PODS["s18-kmaster"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"),
                                reason="needs root and iproute2 (network namespaces)")


def _sh(*args):
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")


def _delete_namespaces():
    for ns in [*PODS, CONTROL]:
        if os.path.exists(f"/run/netns/{ns}"):
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                  text=True).stdout.split()
            for pid in pids:
                kill_tree(int(pid))
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)


def _build_network():
    _sh("ip", "netns", "add", CONTROL)
    _sh("ip", "-n", CONTROL, "link", "set", "lo", "up")
    _sh("ip", "-n", CONTROL, "link", "add", BRIDGE, "type", "bridge")
    _sh("ip", "-n", CONTROL, "addr", "add", SUBNET + "1/24", "dev", BRIDGE)
    _sh("ip", "-n", CONTROL, "link", "set", BRIDGE, "up")
    service = "vega-master vega-master.vega vega-master.vega.svc vega-master.vega.svc.cluster.local"
    for i, (ns, ip) in enumerate(PODS.items()):
        _sh("ip", "netns", "add", ns)
        _sh("ip", "-n", ns, "link", "set", "lo", "up")
        _sh("ip", "-n", CONTROL, "link", "add", f"s18k{i}", "type", "veth", "peer", "name",
            "eth0", "netns", ns)
        _sh("ip", "-n", CONTROL, "link", "set", f"s18k{i}", "master", BRIDGE)
        _sh("ip", "-n", CONTROL, "link", "set", f"s18k{i}", "up")
        _sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        _sh("ip", "-n", ns, "link", "set", "eth0", "up")
        os.makedirs(f"/etc/netns/{ns}", exist_ok=True)
        with open(f"/etc/netns/{ns}/hosts", "w") as fh:
            fh.write(f"127.0.0.1 localhost\n{MASTER_IP} {service}\n")


def _manifest(path, kind):
    with open(os.path.join(K8S, path)) as fh:
        return next(d for d in yaml.safe_load_all(fh) if d and d["kind"] == kind)


def _size_mib(quantity: str) -> int:
    number, unit = re.match(r"^(\d+)(Mi|Gi)$", quantity).groups()
    return int(number) * (1024 if unit == "Gi" else 1)


class Pods:
    """The volumes of every pod and the processes started in them."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.secret_dir = tmp / "secret-volume"   # the Secret, mounted at /etc/vega/secret
        self.procs = []

    def paths(self, pod, text):
        """A path of the pod's file system mapped to where that volume lives here."""
        return (text.replace("/etc/vega/secret", str(self.secret_dir))
                .replace("/var/lib/vega", str(self.tmp / pod / "emptydir"))
                .replace("/opt/vega", REPO))

    def container(self, pod, spec):
        """The container's command line (``vega`` + args, $(VAR)s expanded, volumes
        mapped) and environment."""
        resources = spec.get("resources", {})
        downward = {"status.podIP": PODS[pod]}
        env = clean_env(VEGA_CONF_DIR=str(self.tmp / pod / "home"))
        for item in spec.get("env", []):
            if "value" in item:
                env[item["name"]] = self.paths(pod, item["value"])
            elif "fieldRef" in item["valueFrom"]:
                env[item["name"]] = downward[item["valueFrom"]["fieldRef"]["fieldPath"]]
            else:
                ref = item["valueFrom"]["resourceFieldRef"]
                kind, name = ref["resource"].split(".")
                value = resources[kind][name]
                env[item["name"]] = (str(_size_mib(value)) if name == "memory"
                                     else str(int(value)))
        args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], self.paths(pod, a))
                for a in spec["args"]]
        for directory in ("home", "emptydir"):
            os.makedirs(self.tmp / pod / directory, exist_ok=True)
        os.chmod(self.tmp / pod / "emptydir", 0o777)  # as kubelet makes an emptyDir
        return vega_argv(*args), env

    def start(self, pod, spec):
        argv, env = self.container(pod, spec)
        log = open(self.tmp / f"{pod}.log", "ab")
        self.procs.append(subprocess.Popen(in_netns(pod, argv), env=env, stdout=log,
                                           stderr=log, stdin=subprocess.DEVNULL))

    def log(self, pod):
        path = self.tmp / f"{pod}.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture(scope="module")
def pods(tmp_path_factory):
    from vega_runtime.net.connection import create_secret_file

    tmp = tmp_path_factory.mktemp("pods")
    _delete_namespaces()
    _build_network()
    pods = Pods(tmp)
    try:
        create_secret_file(str(pods.secret_dir / "secret"))
        master = _manifest("master.yaml", "Deployment")["spec"]["template"]["spec"]
        workers = _manifest("workers.yaml", "Deployment")["spec"]["template"]["spec"]
        pods.start("s18-kmaster", master["containers"][0])
        for pod in ("s18-kw1", "s18-kw2"):
            pods.start(pod, workers["containers"][0])
        wait_for(lambda: _alive_workers(pods) == 2, 90,
                 f"two workers registered\n{pods.log('s18-kmaster')}{pods.log('s18-kw1')}")
        yield pods
    finally:
        for proc in pods.procs:  # as Kubernetes stops a pod: SIGTERM, a grace, SIGKILL
            proc.terminate()
        for proc in pods.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                kill_tree(proc.pid)
                proc.wait()
        _delete_namespaces()


def _alive_workers(pods) -> int:
    done = subprocess.run(in_netns(CONTROL, vega_argv("status", "--json", "--master",
                                                     f"vega://{MASTER_IP}:7077")),
                          env=clean_env(VEGA_SECRET_FILE=str(pods.secret_dir / "secret")),
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        return 0
    return sum(w["state"] == "alive" for w in json.loads(done.stdout)["workers"])


def _expected_wordcount() -> list:
    done = subprocess.run(vega_argv("submit", "--master", "local", "jobs/wordcount.py",
                                    "data/sample.txt"), cwd=REPO, env=clean_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_workers_offer_their_pods_resources(pods):
    done = subprocess.run(in_netns(CONTROL, vega_argv("status", "--json", "--master",
                                                     f"vega://{MASTER_IP}:7077")),
                          env=clean_env(VEGA_SECRET_FILE=str(pods.secret_dir / "secret")),
                          capture_output=True, text=True, timeout=60)
    workers = json.loads(done.stdout)["workers"]
    # limits.cpu 2 -> --cores 2; requests.memory 4Gi -> --memory 4096m
    assert sorted((w["host"], w["cores"], w["memory_bytes"]) for w in workers) == \
        [(PODS["s18-kw1"], 2, 4096 << 20), (PODS["s18-kw2"], 2, 4096 << 20)]


def test_example_driver_job_runs_wordcount_through_the_service(pods):
    job = _manifest("examples/wordcount-job.yaml", "Job")["spec"]["template"]["spec"]
    argv, env = pods.container("s18-kjob", job["containers"][0])
    done = subprocess.run(in_netns("s18-kjob", argv), env=env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr + pods.log("s18-kmaster")
    assert done.stdout.splitlines() == _expected_wordcount()


RELAY = r"""
import socket, sys, threading
listen = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
while True:
    client, _ = listen.accept()
    upstream = socket.create_connection((sys.argv[2], int(sys.argv[1])))
    for a, b in ((client, upstream), (upstream, client)):
        threading.Thread(target=pipe, args=(a, b), daemon=True).start()
"""


def test_cluster_mode_submit_through_a_port_forward(pods, tmp_path):
    relay = subprocess.Popen(in_netns(CONTROL, [sys.executable, "-c", RELAY, "7077", MASTER_IP]),
                             stdout=subprocess.PIPE, text=True)
    try:
        assert relay.stdout.readline().strip() == "ready"
        done = subprocess.run(
            in_netns(CONTROL, vega_argv("submit", "--deploy-mode", "cluster", "--master",
                                        "vega://localhost:7077", "jobs/wordcount.py",
                                        os.path.join(REPO, "data", "sample.txt"))),
            cwd=REPO, env=clean_env(VEGA_SECRET_FILE=str(pods.secret_dir / "secret")),
            capture_output=True, text=True, timeout=180)
    finally:
        kill_tree(relay.pid)
        relay.wait()
    assert done.returncode == 0, done.stderr + pods.log("s18-kmaster")
    # the driver's output, as the master relays it: its stderr lines (the package, the
    # stages) and then its stdout
    expected = _expected_wordcount()
    lines = done.stdout.splitlines()
    assert expected[0] in lines, done.stdout
    start = lines.index(expected[0])
    assert lines[start:start + len(expected)] == expected, done.stdout


PROBE = r"""
import socket, ssl, sys, urllib.request
scheme, host, port, path = sys.argv[1:5]
if scheme == "HTTPS":
    try:  # does the port speak TLS at all?
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        context.wrap_socket(socket.create_connection((host, int(port)), timeout=5)).close()
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
    except ssl.SSLError as exc:  # not yet: check the path and port over plain HTTP
        print("plain-http", exc)
        scheme, opener = "HTTP", urllib.request.build_opener()
else:
    opener = urllib.request.build_opener()
with opener.open(f"{scheme.lower()}://{host}:{port}{path}", timeout=5) as reply:
    print(reply.status, reply.read(200).decode(errors="replace").splitlines()[0])
"""


@pytest.mark.parametrize("pod, manifest", [("s18-kmaster", "master.yaml"),
                                           ("s18-kw1", "workers.yaml")])
def test_probes_answer_as_kubelet_asks(pods, pod, manifest):
    """kubelet's readiness and liveness GETs (scheme and path from the manifest), sent
    from the node's network to the pod's address; certificates are not verified."""
    container = _manifest(manifest, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        done = subprocess.run(in_netns(CONTROL, [sys.executable, "-c", PROBE, get["scheme"],
                                                 PODS[pod], str(ports[get["port"]]),
                                                 get["path"]]),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1].startswith("200 # HELP"), done.stdout
    if done.stdout.startswith("plain-http"):
        pytest.skip(f"{pod}'s HTTP port speaks plain HTTP in this build: the probes' path and "
                    "port answer, their scheme HTTPS needs the HTTPS port of issue 12")
