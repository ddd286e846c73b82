# Vega's container image: the master, a worker or a driver (vega submit), chosen by the
# command (the entry point is `vega`).  Build from the repository root:
#
#     docker build -t vega:0.1 .
#
# Dependencies come from the runtime lock file (exact versions, hashes checked), Vega
# from its source; the first stage builds their wheels with the build lock's tools (a
# dependency published only as source, docopt, is not built with whatever setuptools is
# newest), the second installs the wheels offline.  docs/cluster.md, "Running on
# Kubernetes", says how k8s/ uses it.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS wheel
WORKDIR /src
COPY requirements/build.txt requirements/build.txt
RUN python -m pip install --no-cache-dir --require-hashes --no-deps -r requirements/build.txt
COPY setup.cfg pyproject.toml README.md ./
COPY vega_runtime vega_runtime
COPY vega_cli vega_cli
COPY requirements/runtime.txt requirements/runtime.txt
RUN python -m pip wheel --no-cache-dir --no-deps --no-build-isolation --require-hashes \
        --wheel-dir /wheels -r requirements/runtime.txt \
    && python -m pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
COPY --from=wheel /wheels /tmp/wheels
RUN python -m pip install --no-cache-dir --no-index --no-deps /tmp/wheels/*.whl \
    && rm -r /tmp/wheels
# The example jobs and their data, for a first run in the cluster (docs/cluster.md).
COPY jobs /opt/vega/jobs
COPY data /opt/vega/data
# An unprivileged user; its Vega home holds the settings file (VEGA_CONF_DIR), the
# daemons' work dirs live under /var/lib/vega (a volume in k8s/).
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/vega vega \
    && mkdir -p /var/lib/vega && chown vega:vega /var/lib/vega
COPY --chown=10001:10001 conf/vega-defaults.yaml /home/vega/.vega/vega-defaults.yaml
USER 10001:10001
ENV VEGA_CONF_DIR=/home/vega/.vega PYTHONUNBUFFERED=1
WORKDIR /var/lib/vega
EXPOSE 7077 8080 8081
ENTRYPOINT ["vega"]
CMD ["--help"]
