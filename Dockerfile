# syntax=docker/dockerfile:1
# The podgroup-operator image, for users with Docker (or any BuildKit/Buildah builder):
#   docker build -t <your-registry>/podgroup-operator:0.1.0 .
# Without Docker (as on the project's machines), hack/image/build.sh builds the equivalent image
# daemonlessly (Debian bookworm's python3 instead of this base; the same venv layout, user and
# entrypoint). Both install the same wheels: hack/image/requirements.txt pins every dependency
# with its hash (hack/image/lock.py regenerates it from pyproject.toml).
#
# Pinned by tag; pin by digest too for fully repeatable builds:
#   --build-arg PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:<digest>
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---------------------------------------------------------------- build: wheel + venv
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Dependencies first: this layer is reused until the lock changes.
COPY hack/image/requirements.txt /tmp/requirements.txt
RUN python -m venv --without-pip /opt/podgroup-operator \
 && python -m pip --python /opt/podgroup-operator/bin/python install \
      --no-deps --only-binary=:all: --require-hashes -r /tmp/requirements.txt
# The project's wheel (its build backend, setuptools, is pinned in pyproject.toml).
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN python -m pip wheel --no-deps --wheel-dir /dist . \
 && python -m pip --python /opt/podgroup-operator/bin/python install --no-deps /dist/*.whl \
 && python -m pip --python /opt/podgroup-operator/bin/python check \
 && /opt/podgroup-operator/bin/podgroup-operator --help > /dev/null \
 && /opt/podgroup-operator/bin/python -m compileall -q --invalidation-mode unchecked-hash /opt/podgroup-operator/lib
# (Bytecode compiled once as unchecked-hash .pyc: nothing is compiled or checked at run time,
# where the root filesystem is read-only.)

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE}
# A fixed non-root user (distroless' "nonroot" id); the Deployment runs as 65532 too.
RUN groupadd --system --gid 65532 nonroot \
 && useradd --system --uid 65532 --gid 65532 --home-dir /home/nonroot --create-home \
      --shell /usr/sbin/nologin nonroot
# The venv's python is a symlink to this same base image's /usr/local/bin/python3.11.
COPY --from=build /opt/podgroup-operator /opt/podgroup-operator
ENV PATH=/opt/podgroup-operator/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/nonroot
USER 65532:65532
WORKDIR /home/nonroot
# 8080: Prometheus metrics (PGO_METRICS_PORT); 8081: Kopf's /healthz with --liveness.
EXPOSE 8080 8081
# Nothing is written at run time except under /tmp (mount an emptyDir there with
# readOnlyRootFilesystem, as manifests/ does).
ENTRYPOINT ["podgroup-operator", "run"]
CMD ["--liveness=http://0.0.0.0:8081/healthz"]
LABEL org.opencontainers.image.title="podgroup-operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.description="PodGroup operator: gang admission, in-place restart policies, in-place vertical resize"
