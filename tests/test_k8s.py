"""The Kubernetes path, checked offline: k8s/'s manifests against the Kubernetes API's own
schemas (kubernetes-validate, strict: no unknown fields), their commands against Vega's
real command line, their names against each other; the Dockerfile's build context and
the wheel it installs.  A container build runs only where a builder is available."""

import glob
import os
import re
import shutil
import subprocess
import sys
import zipfile

import click
import kubernetes_validate
import pytest
import yaml

from proc_helpers import REPO

K8S = os.path.join(REPO, "k8s")
MANIFESTS = sorted(glob.glob(os.path.join(K8S, "*.yaml")) +
                   glob.glob(os.path.join(K8S, "examples", "*.yaml")))
#: the oldest Kubernetes still commonly run and the newest the package knows
VERSIONS = ["1.27.0", "1.37.0"]


def _docs(path):
    with open(path) as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc]


def _objects():
    return {(doc["kind"], doc["metadata"]["name"]): doc for path in MANIFESTS
            if not path.endswith("kustomization.yaml") for doc in _docs(path)}


def _container(kind_name):
    return _objects()[kind_name]["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", [p for p in MANIFESTS if not p.endswith("kustomization.yaml")],
                         ids=os.path.basename)
def test_manifest_is_valid_kubernetes(path, version):
    for doc in _docs(path):
        kubernetes_validate.validate(doc, version, strict=True)


def test_validation_catches_a_wrong_field():
    """The check above can fail: a misspelt field is refused."""
    doc = _docs(os.path.join(K8S, "workers.yaml"))[0]
    doc["spec"]["template"]["spec"]["containers"][0]["resourcez"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="resourcez"):
        kubernetes_validate.validate(doc, VERSIONS[-1], strict=True)


def test_kustomization_lists_existing_resources_and_the_image():
    kustomization = _docs(os.path.join(K8S, "kustomization.yaml"))[0]
    for resource in kustomization["resources"]:
        assert os.path.isfile(os.path.join(K8S, resource)), resource
    images = {i["name"] for i in kustomization["images"]}
    for kind_name in (("Deployment", "vega-master"), ("Deployment", "vega-worker")):
        assert _container(kind_name)["image"] in images


def _parse(command: click.Command, args):
    """``args`` parsed by the real ``vega`` subcommand (raises on an unknown flag or a bad
    value); the parameters it resolved."""
    return command.make_context(command.name, list(args)).params


def _expand(args, env):
    """Kubernetes' ``$(VAR)`` expansion of container args, with sample values."""
    return [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in args]


def test_master_command_and_service_agree():
    from vega_cli.daemons import master

    container = _container(("Deployment", "vega-master"))
    assert container["args"][0] == "master"
    params = _parse(master, container["args"][1:])
    service = _objects()[("Service", "vega-master")]
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert params["host"] == service["metadata"]["name"]
    assert params["port"] == container_ports["vega"] == ports["vega"]["port"]
    assert params["webui_port"] == container_ports["https"] == ports["https"]["port"]
    assert params["secret_file"].startswith(container["volumeMounts"][0]["mountPath"] + "/")
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert (get["path"], get["port"], get["scheme"]) == ("/metrics", "https", "HTTPS")
    selector = service["spec"]["selector"]
    labels = _objects()[("Deployment", "vega-master")]["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()


def test_worker_command_reaches_the_service_with_the_pods_resources():
    from vega_cli.daemons import worker
    from vega_runtime.master_url import parse_master

    container = _container(("Deployment", "vega-worker"))
    assert container["args"][0] == "worker"
    env = {"POD_IP": "10.1.2.3", "VEGA_CORES": "2", "VEGA_MEMORY_MIB": "4096"}
    params = _parse(worker, _expand(container["args"][1:], env))
    master = parse_master(params["master_url"])
    service = _objects()[("Service", "vega-master")]
    assert (master.host, master.port) == (service["metadata"]["name"],
                                          service["spec"]["ports"][0]["port"])
    assert (params["host"], params["cores"], params["memory"]) == ("10.1.2.3", 2, "4096m")
    fields = {e["name"]: e["valueFrom"] for e in container["env"] if "valueFrom" in e}
    assert fields["VEGA_CORES"]["resourceFieldRef"]["resource"] == "limits.cpu"
    assert fields["VEGA_MEMORY_MIB"]["resourceFieldRef"] == {
        "containerName": container["name"], "resource": "requests.memory", "divisor": "1Mi"}
    assert params["webui_port"] == container["ports"][0]["containerPort"]


def test_driver_job_submits_to_the_service_with_the_secret():
    from vega_cli.submit import submit

    container = _objects()[("Job", "vega-wordcount")]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][0] == "submit"
    params = _parse(submit, container["args"][1:])
    assert params["master"] == "vega://vega-master:7077"
    assert params["job"] == "/opt/vega/jobs/wordcount.py"  # COPY jobs /opt/vega/jobs
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["VEGA_SECRET_FILE"].startswith(container["volumeMounts"][0]["mountPath"] + "/")
    secret_names = {v["secret"]["secretName"] for path in MANIFESTS
                    if not path.endswith("kustomization.yaml") for doc in _docs(path)
                    for v in doc.get("spec", {}).get("template", {}).get("spec", {})
                    .get("volumes", []) if "secret" in v}
    assert secret_names == {_objects()[("Secret", "vega-secret")]["metadata"]["name"]}


# -- the image -------------------------------------------------------------------------------

def _dockerfile_copies():
    """(sources, destination) of each COPY from the build context (not --from a stage)."""
    copies = []
    with open(os.path.join(REPO, "Dockerfile")) as fh:
        for line in fh:
            parts = line.split()
            if parts[:1] == ["COPY"] and not any(p.startswith("--from") for p in parts):
                paths = [p for p in parts[1:] if not p.startswith("--")]
                copies.append((paths[:-1], paths[-1]))
    return copies


def test_dockerfile_copies_exist_and_build_the_wheels_it_installs(tmp_path):
    """Every COPY source exists; the first stage's sources alone (what the image build
    sees) build Vega's wheel, holding the CLI and the UI, and, as its first stage does, with
    the build lock's tools and no build isolation, one wheel per package of the runtime
    lock (docopt, published only as source, included)."""
    context = tmp_path / "context"
    for sources, _ in _dockerfile_copies():
        for source in sources:
            path = os.path.join(REPO, source)
            assert os.path.exists(path), f"Dockerfile copies {source}, which does not exist"
    for source in ("setup.cfg", "pyproject.toml", "README.md", "vega_runtime", "vega_cli"):
        target = context / source
        if os.path.isdir(os.path.join(REPO, source)):
            shutil.copytree(os.path.join(REPO, source), target,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(os.path.join(REPO, source), target)
    wheels = tmp_path / "wheels"
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                           "--no-build-isolation", "--wheel-dir", str(wheels), str(context)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    built = glob.glob(str(wheels / "vega_engine-*.whl"))  # the Dockerfile's glob
    assert len(built) == 1, os.listdir(wheels)
    names = zipfile.ZipFile(built[0]).namelist()
    assert "vega_cli/main.py" in names and "vega_cli/slurm_cluster.py" in names
    assert any(n.startswith("vega_runtime/deploy/ui/") and n.endswith(".html") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "vega = vega_cli.main:main" in zipfile.ZipFile(built[0]).read(entry_points).decode()
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                           "--no-build-isolation", "--require-hashes", "--wheel-dir",
                           str(wheels), "-r", os.path.join(REPO, "requirements", "runtime.txt")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    with open(os.path.join(REPO, "requirements", "runtime.txt")) as fh:
        pinned = {line.split("==")[0].lower().replace("_", "-") for line in fh
                  if "==" in line and not line.startswith((" ", "#"))}
    wheeled = {os.path.basename(w).split("-")[0].lower().replace("_", "-")
               for w in glob.glob(str(wheels / "*.whl"))}
    assert wheeled == pinned | {"vega-engine"}


def test_runtime_lock_pins_every_dependency_with_hashes():
    """The image installs requirements/runtime.txt with --require-hashes --no-deps: every
    install_requires of setup.cfg must be in it, pinned, with a hash."""
    import configparser

    setup = configparser.ConfigParser()
    setup.read(os.path.join(REPO, "setup.cfg"))
    wanted = {re.split(r"[<>=;\s]", line.strip())[0].lower().replace("_", "-")
              for line in setup["options"]["install_requires"].splitlines()
              if line.strip() and "python_version<" not in line}
    with open(os.path.join(REPO, "requirements", "runtime.txt")) as fh:
        text = fh.read()
    pinned = {m.group(1).lower() for m in re.finditer(r"^([A-Za-z0-9_.-]+)==\S+ \\$", text, re.M)}
    assert wanted <= pinned, wanted - pinned
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "==" in line and not line.startswith((" ", "#")):
            assert lines[i + 1].strip().startswith("--hash=sha256:"), line
    assert "pytest" not in pinned and "kubernetes-validate" not in pinned


def _builder():
    """A container builder that can build here, or None."""
    for tool, probe in (("docker", ["docker", "info"]), ("podman", ["podman", "info"]),
                        ("buildah", ["buildah", "info"])):
        if shutil.which(tool):
            try:
                if subprocess.run(probe, capture_output=True, timeout=20).returncode == 0:
                    return tool
            except subprocess.TimeoutExpired:
                pass
    return None


def test_image_builds_and_runs_vega():
    builder = _builder()
    if builder is None:
        pytest.skip("no container builder can build here (docker without a daemon, no podman "
                    "or buildah): the image build is checked only by the Dockerfile test above")
    tag = "vega-test-image:slurm18"
    build = [builder, "build" if builder != "buildah" else "bud", "-t", tag, REPO]
    done = subprocess.run(build, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    if builder != "buildah":
        run = subprocess.run([builder, "run", "--rm", tag, "--version"], capture_output=True,
                             text=True, timeout=120)
        assert run.returncode == 0 and "0.1.0" in run.stdout, run.stderr
