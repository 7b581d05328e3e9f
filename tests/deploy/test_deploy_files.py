"""The deployment files: the Dockerfile installs the torch that pyproject.toml pins and runs
`nfcore serve` with options it has; the Kubernetes manifests validate (strict) against a
pinned Kubernetes version and agree with the Dockerfile and with each other."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from nfcore.cli import main

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.31.0"
"""The Kubernetes release the manifests are checked against (kubernetes-validate's schemas)."""


def _instructions() -> dict[str, list[str]]:
    """Dockerfile instruction -> the argument text of each use (continuations joined)."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.setdefault(word.upper(), []).append(rest.strip())
    return out


@pytest.fixture(scope="module")
def serve_options() -> set[str]:
    """The options `nfcore serve --help` lists."""
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit):
        main(["serve", "--help"])
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-z])\b", buf.getvalue()))


def _options(args: list[str]) -> list[str]:
    return [a for a in args if a.startswith("-")]


def test_the_dockerfile_installs_the_pinned_cpu_torch() -> None:
    pins = [d for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "dependencies"] if d.startswith("torch")]
    assert len(pins) == 1 and pins[0].startswith("torch==")
    torch_runs = [r for r in _instructions()["RUN"] if "torch==" in r]
    assert len(torch_runs) == 1
    assert f'"{pins[0]}"' in torch_runs[0]
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch_runs[0]


def test_the_dockerfile_serves_with_options_nfcore_serve_has(serve_options: set[str]) -> None:
    ins = _instructions()
    assert ins["FROM"] == ["python:3.11-slim"]
    assert json.loads(ins["ENTRYPOINT"][0]) == ["nfcore", "serve"]
    cmd = json.loads(ins["CMD"][0])
    assert set(_options(cmd)) <= serve_options, set(_options(cmd)) - serve_options
    port = cmd[cmd.index("--port") + 1]
    assert ins["EXPOSE"] == [port]
    assert f"http://127.0.0.1:{port}/healthz" in ins["HEALTHCHECK"][0]
    user = ins["USER"][-1]
    assert user not in ("root", "0")


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _validate(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(("name", "doc"), _documents(),
                         ids=[f"{n}:{d['kind']}/{d['metadata']['name']}" for n, d in _documents()])
def test_every_manifest_validates_strictly(name: str, doc: dict[str, Any]) -> None:
    _validate(doc)


def _one(kind: str) -> list[dict[str, Any]]:
    return [d for _, d in _documents() if d["kind"] == kind]


def test_a_misspelt_field_fails_validation() -> None:
    """The check can fail: strict mode refuses a field Kubernetes does not have."""
    (deployment,) = _one("Deployment")
    bad = copy.deepcopy(deployment)
    bad["spec"]["replica"] = bad["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError, match="'replica' was unexpected"):
        _validate(bad)
    bad = copy.deepcopy(deployment)
    bad["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = [1]
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(bad)


def test_the_deployment_probes_healthz_and_serves_as_the_dockerfile_does(
        serve_options: set[str]) -> None:
    (deployment,) = _one("Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    (container,) = spec["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["args"] == json.loads(_instructions()["CMD"][0])
    assert set(_options(container["args"])) <= serve_options
    assert str(ports["http"]) == container["args"][container["args"].index("--port") + 1]
    res = container["resources"]
    assert set(res["requests"]) == set(res["limits"]) == {"cpu", "memory"}
    # The schema takes any string as a quantity: check the memory figures' form here.
    assert all(re.fullmatch(r"[1-9][0-9]*[MG]i", res[k]["memory"]) for k in res)
    claims = {v["persistentVolumeClaim"]["claimName"]
              for v in spec["template"]["spec"]["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {d["metadata"]["name"] for d in _one("PersistentVolumeClaim")}
    (service,) = _one("Service")
    assert service["spec"]["selector"].items() <= \
        spec["template"]["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] in ports
