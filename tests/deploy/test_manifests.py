"""What this machine can check of deploy/k8s, deploy/compose and deploy/systemd without a cluster or
a Docker daemon: every file parses; the Kubernetes manifests validate against the Kubernetes API's
schemas (kubernetes-validate, which bundles them: no network); the Compose files against the
compose-spec schema (vendored by check-jsonschema); the structure the deployment relies on
(labels and selectors, probes on /healthz and /readyz, non-root with no capabilities, volumes for
data, no secret in clear); the hub and edge configurations they mount load as the hub and edge load
them; and ``systemd-analyze verify`` accepts every unit (skipped where systemd-analyze is missing)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest
import yaml

from humiao.config import load_config
from humiao.hub.config import ENV_PREFIX, HubConfig

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose"
SYSTEMD = DEPLOY / "systemd"
K8S_VERSION = "1.37.0"  # the newest schemas kubernetes-validate bundles (apps/v1, policy/v1 …: stable APIs)


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _k8s() -> dict[tuple[str, str], dict]:
    found = {}
    for f in sorted(K8S.glob("*.yaml")):
        if f.name == "kustomization.yaml":
            continue
        for d in _docs(f):
            found[(d["kind"], d["metadata"]["name"])] = d
    return found


def _deployments() -> list[dict]:
    return [d for (kind, _), d in _k8s().items() if kind == "Deployment"]


# ---------------------------------------------------------------- Kubernetes


def test_every_manifest_validates_against_the_kubernetes_schemas():
    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate (the test extra)")
    files = sorted(K8S.glob("*.yaml"))
    assert len(files) >= 8
    for f in files:
        for d in _docs(f):
            if d.get("kind") == "Kustomization":
                continue
            # strict: an unknown or misspelt field is an error, as kubectl --validate=strict makes it
            kv.validate(d, K8S_VERSION, strict=True)


def test_the_kustomization_names_every_manifest_and_everything_is_in_one_namespace():
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kust["resources"]) == sorted(f.name for f in K8S.glob("*.yaml") if f.name != "kustomization.yaml")
    kinds = {kind for kind, _ in _k8s()}
    assert {"Namespace", "ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget"} <= kinds
    for (kind, _), d in _k8s().items():
        if kind != "Namespace":
            assert d["metadata"]["namespace"] == "humiao", kind


def test_web_and_ingest_deployments_select_their_own_pods_and_the_service_the_web_one():
    deps = {d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in _deployments()}
    assert set(deps) == {"web", "ingest"}
    for role, d in deps.items():
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert d["spec"]["selector"]["matchLabels"].items() <= labels.items()
        (hub,) = d["spec"]["template"]["spec"]["containers"]
        assert hub["args"][:5] == ["humiao", "hub", "run", "--role", role]
    # the ingest pod is a broker identity: never two pods of it at once; web pods have none: several, rolling
    assert deps["ingest"]["spec"]["replicas"] == 1 and deps["ingest"]["spec"]["strategy"]["type"] == "Recreate"
    assert deps["web"]["spec"]["replicas"] >= 2 and deps["web"]["spec"]["strategy"]["type"] == "RollingUpdate"
    service = _k8s()[("Service", "humiao-hub")]
    selector = service["spec"]["selector"].items()
    matched = [c for c, d in deps.items() if selector <= d["spec"]["template"]["metadata"]["labels"].items()]
    assert matched == ["web"]
    port = service["spec"]["ports"][0]["targetPort"]
    assert port in {p["name"] for p in deps["web"]["spec"]["template"]["spec"]["containers"][0]["ports"]}
    pdb = _k8s()[("PodDisruptionBudget", "humiao-hub")]
    for d in deps.values():  # the budget covers both pods
        assert pdb["spec"]["selector"]["matchLabels"].items() <= d["spec"]["template"]["metadata"]["labels"].items()


def test_probes_resources_and_security_context():
    for d in _deployments():
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        (hub,) = pod["containers"]
        ports = {p["name"]: p["containerPort"] for p in hub["ports"]}
        assert hub["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert hub["readinessProbe"]["httpGet"]["path"] == "/readyz"
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert hub[probe]["httpGet"]["port"] in ports
        for c in pod["containers"] + pod.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"]
            assert {"cpu", "memory"} <= c["resources"]["requests"].keys() <= c["resources"]["limits"].keys()
        # every mount names a volume of the pod; the writable ones are emptyDirs
        volumes = {v["name"]: v for v in pod["volumes"]}
        for c in pod["containers"] + pod["initContainers"]:
            for m in c["volumeMounts"]:
                assert m["name"] in volumes
                if not m.get("readOnly"):
                    assert "emptyDir" in volumes[m["name"]], m


def test_the_hub_configuration_loads_with_each_pods_environment_and_finds_its_secrets(tmp_path):
    config = _k8s()[("ConfigMap", "humiao-hub-config")]["data"]["hub.yaml"]
    secret = _k8s()[("Secret", "humiao-hub-secrets")]
    identities = set()
    for d in _deployments():
        pod = d["spec"]["template"]["spec"]
        (hub,) = pod["containers"]
        env = {}
        for e in hub["env"]:
            if "value" in e:
                env[e["name"]] = e["value"]
            else:
                ref = e["valueFrom"]["secretKeyRef"]
                assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
                env[e["name"]] = secret["stringData"][ref["key"]]
        data = yaml.safe_load(config)
        path = tmp_path / "hub.yaml"
        path.write_text(config)
        cfg = load_config(HubConfig, path, environ=env, prefix=ENV_PREFIX)
        assert data["database"]["url"] == "" and cfg.database_url().startswith("postgresql+psycopg://")
        assert cfg.http.host == "0.0.0.0" and cfg.http.port == hub["ports"][0]["containerPort"]
        # the init container copies the Secret's files where the configuration looks for them
        mounted = {i["path"] for v in pod["volumes"] if "secret" in v for i in v["secret"]["items"]}
        assert {"evidence.key", "evidence.pub", "hub-signing.key", "broker/ca.crt"} <= mounted
        if "ingest" in hub["args"]:  # a broker identity of its own
            assert f"broker/{cfg.mqtt.client_id}.password" in mounted
            identities.add(cfg.mqtt.client_id)
        else:  # no MQTT session: only the broker's administration, to enrol and revoke from the panel
            assert "broker/hub.admin.password" in mounted and not any(".w" in m for m in mounted)
        for item in (i for v in pod["volumes"] if "secret" in v for i in v["secret"]["items"]):
            assert item["key"] in secret["stringData"]
        assert cfg.private_key_path() == Path("/var/lib/humiao-hub/evidence.key")
        assert cfg.broker_dir() == Path("/var/lib/humiao-hub/broker")
    assert identities == {"hub.w1"}  # the ingest pod's broker identity


def test_the_secret_holds_placeholders_only():
    secret = _k8s()[("Secret", "humiao-hub-secrets")]
    assert "data" not in secret  # nothing base64-encoded to hide a value in
    for key, value in secret["stringData"].items():
        assert "CHANGE-ME" in value, key
        assert "BEGIN" not in value and not re.fullmatch(r"[A-Za-z0-9+/=]{32,}", value), key


# ---------------------------------------------------------------- Docker Compose


COMPOSE_FILES = sorted(COMPOSE.glob("*.compose.yaml"))


def _compose_schema() -> dict:
    pytest.importorskip("check_jsonschema", reason="pip install check-jsonschema (the test extra)")
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads((vendor / "compose-spec.json").read_text())


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_files_validate_against_the_compose_spec(path):
    import jsonschema

    jsonschema.validate(yaml.safe_load(path.read_text()), _compose_schema())


def test_there_is_a_site_and_a_hub_compose_file():
    services = {p.name: set(yaml.safe_load(p.read_text())["services"]) for p in COMPOSE_FILES}
    assert {"broker", "hub", "edge"} <= services["site.compose.yaml"]
    assert {"postgres", "broker", "hub"} <= services["hub.compose.yaml"]


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_structure_healthchecks_volumes_and_no_secrets_in_clear(path):
    doc = yaml.safe_load(path.read_text())
    services = doc["services"]
    dockerfile = (COMPOSE / "Dockerfile").read_text()
    ignored = (COMPOSE / ".gitignore").read_text().split()
    hub_check = " ".join(services["hub"]["healthcheck"]["test"])
    assert "/healthz" in hub_check and "/readyz" in hub_check
    data_dirs = {
        "hub": "/var/lib/humiao-hub",
        "broker": "/var/lib/mosquitto",
        "postgres": "/var/lib/postgresql/data",
        "edge": "/var/lib/humiao-edge",
    }
    for name, svc in services.items():
        if name in data_dirs:  # state in a named volume, not in the container
            mounts = {v.split(":")[1]: v.split(":")[0] for v in svc["volumes"]}
            assert mounts.get(data_dirs[name]) in doc["volumes"], (name, svc["volumes"])
        if svc.get("restart") != "no":  # every long-running service says when it is healthy
            assert "healthcheck" in svc, name
        if "build" in svc:
            assert (COMPOSE / svc["build"]["context"] / "pyproject.toml").is_file()
            assert re.search(rf"^FROM .* AS {svc['build']['target']}$", dockerfile, re.M), name
        for f in svc.get("env_file", []):
            assert f in ignored and (COMPOSE / f.replace(".env", ".env.example")).is_file(), f
        for key, value in (svc.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|KEY|DATABASE__URL", key) and not key.endswith("_FILE"):
                pytest.fail(f"{name}: {key} is set in clear in {path.name}; use env_file or secrets")
            assert "CHANGE-ME" not in str(value)
        for port in svc.get("ports", []):
            if port.endswith(":8080"):
                assert port.startswith("127.0.0.1:"), "the panel is published on loopback only (HTTPS proxy)"
    for secret in (doc.get("secrets") or {}).values():
        assert secret["file"].startswith("./secrets/") and "secrets/" in ignored


def test_the_configurations_the_compose_files_mount_load():
    hub = load_config(HubConfig, COMPOSE / "hub.yaml", environ={}, prefix=ENV_PREFIX)
    assert hub.mqtt.host == "broker" and hub.http.host == "0.0.0.0"
    edge_config = pytest.importorskip("humiao.edge.config", reason="the edge role is not installed")
    edge = load_config(edge_config.EdgeConfig, COMPOSE / "edge.yaml", environ={})
    assert edge.mqtt is not None and edge.mqtt.host == "broker"
    for example in COMPOSE.glob("*.env.example"):
        for line in example.read_text().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.partition("=")
                assert name.startswith(("HUMIAO_HUB__", "HUMIAO__")) and (not value or "CHANGE-ME" in value)


# ---------------------------------------------------------------- systemd


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not on this machine")
def test_systemd_analyze_verify_accepts_every_unit(tmp_path):
    """The units as installed, but with /opt/humiao pointing at this checkout (verify wants the
    commands to exist); the template as an instance; the Mosquitto drop-in on Debian's unit, when
    it is installed. ``verify`` exits 0 on settings it ignores, so anything it prints fails too."""
    root = DEPLOY.parent
    units = []
    for unit in sorted(SYSTEMD.glob("*.service")) + sorted(SYSTEMD.glob("*.timer")):
        text = unit.read_text().replace("/opt/humiao/", f"{root}/")
        target = tmp_path / unit.name.replace("@.", "@1.")
        target.write_text(text)
        units.append(target)
    assert {"humiao-edge.service", "humiao-hub@1.service", "humiao-backup.service", "humiao-backup.timer"} <= {
        u.name for u in units
    }
    mosquitto = Path("/lib/systemd/system/mosquitto.service")
    if mosquitto.exists():
        shutil.copy(mosquitto, tmp_path / "mosquitto.service")
        shutil.copytree(SYSTEMD / "mosquitto.service.d", tmp_path / "mosquitto.service.d")
        units.append(tmp_path / "mosquitto.service")
    run = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, units)],
        env={"SYSTEMD_UNIT_PATH": f"{tmp_path}:", "PATH": "/usr/bin:/bin", "SYSTEMD_LOG_COLOR": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0 and not run.stderr.strip() and not run.stdout.strip(), run.stderr + run.stdout


def test_the_backup_unit_runs_the_backup_script_daily():
    service = (SYSTEMD / "humiao-backup.service").read_text()
    timer = (SYSTEMD / "humiao-backup.timer").read_text()
    script = re.search(r"^ExecStart=\S+ (\S+) backup ", service, re.M)
    assert script and Path(script.group(1).replace("/opt/humiao/", f"{DEPLOY.parent}/")).is_file()
    assert "Type=oneshot" in service and "UMask=0077" in service
    assert "OnCalendar=" in timer and "Persistent=true" in timer
