"""docker-compose.yml, deploy/Caddyfile and the Dockerfile checked against the code: no Docker
engine runs on the project's machines, so this is what stands between the compose file and a
command, setting or path that does not exist.

It checks that every service runs a real `chatbot` command line, that every CHATBOT_ variable is a
setting and the whole environment passes the settings' validation, that replicas and workers
share one model store, that the app trusts exactly the proxy's address, that the proxy reaches
the port the app listens on, and that each long-running service has a health check.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatbot.cli import _parser
from chatbot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
CHATBOT_SERVICES = [name for name, service in SERVICES.items() if "build" in service]
LONG_RUNNING = [name for name in SERVICES if name != "migrate"]
CADDYFILE = (ROOT / "deploy" / "Caddyfile").read_text()


def interpolated(value: str) -> str:
    """Compose's ${VAR:-default} and ${VAR:?error}, with nothing set in the environment."""

    def one(match: re.Match[str]) -> str:
        operator, rest = match.group(2), match.group(3)
        if operator == ":?":
            return "a-secret-set-by-the-operator-" + "x" * 32
        return rest if operator == ":-" else ""

    return re.sub(r"\$\{(\w+)(:-|:\?)?([^}]*)\}", one, value)


def environment(name: str) -> dict[str, str]:
    return {key: interpolated(str(value)) for key, value in SERVICES[name]["environment"].items()}


def test_the_production_services_are_all_there() -> None:
    assert set(SERVICES) == {"db", "redis", "migrate", "app", "worker", "worker-gpu", "proxy"}
    assert sorted(CHATBOT_SERVICES) == ["app", "migrate", "worker", "worker-gpu"]


@pytest.mark.parametrize("name", CHATBOT_SERVICES)
def test_each_chatbot_service_runs_a_real_command_line(name: str) -> None:
    command = SERVICES[name]["command"]
    assert command[0] == "chatbot"
    args = _parser().parse_args(command[1:])  # argparse exits on an unknown command or option
    expected = {
        "migrate": "db_upgrade",
        "app": "serve_command",
        "worker": "worker_command",
        "worker-gpu": "worker_command",
    }
    assert args.handler.__name__ == expected[name]


@pytest.mark.parametrize("name", CHATBOT_SERVICES)
def test_each_chatbot_service_has_a_valid_configuration(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = environment(name)
    fields = {f"CHATBOT_{field.upper()}" for field in Settings.model_fields}
    assert set(env) <= fields, set(env) - fields
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.resolved_database_url.startswith("postgresql+psycopg://chatbot:")
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.secret_key != Settings.model_fields["secret_key"].default
    assert (settings.device == "cuda") == (name == "worker-gpu")
    assert settings.production and settings.unsafe_for_production() == []
    assert not settings.metrics_open  # Caddy serves every path to the internet


def test_replicas_and_workers_share_one_model_store_at_the_data_directory() -> None:
    for name in ("app", "worker", "worker-gpu"):
        data_dir = environment(name)["CHATBOT_DATA_DIR"]
        assert f"model-store:{data_dir}" in SERVICES[name]["volumes"], name
    assert "model-store" in COMPOSE["volumes"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "CHATBOT_DATA_DIR=/data" in dockerfile  # what the image's own default says too
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.MULTILINE)  # not root


def test_the_app_trusts_the_proxy_and_only_the_proxy() -> None:
    proxy_address = SERVICES["proxy"]["networks"]["default"]["ipv4_address"]
    (subnet,) = COMPOSE["networks"]["default"]["ipam"]["config"]
    assert ipaddress.ip_address(proxy_address) in ipaddress.ip_network(subnet["subnet"])
    for name in CHATBOT_SERVICES:
        assert environment(name)["CHATBOT_TRUSTED_PROXIES"] == proxy_address


def test_the_proxy_reaches_every_replica_on_the_port_it_listens_on() -> None:
    serve = _parser().parse_args(SERVICES["app"]["command"][1:])
    assert f"dynamic a app {serve.port}" in CADDYFILE
    assert str(serve.port) in SERVICES["app"]["expose"]
    assert "ports" not in SERVICES["app"]  # replicas are reached through the proxy only
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in SERVICES["proxy"]["volumes"]
    assert SERVICES["app"]["deploy"]["replicas"] == 2
    assert "{$CHATBOT_SITE::80}" in CADDYFILE
    assert "CHATBOT_SITE" in SERVICES["proxy"]["environment"]


def test_migrations_run_once_before_the_app_and_workers_start() -> None:
    assert SERVICES["migrate"]["restart"] == "no"
    for name in ("app", "worker", "worker-gpu"):
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    assert SERVICES["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_each_long_running_service_has_a_health_check(name: str) -> None:
    test = SERVICES[name]["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL")
    if test[1] == "chatbot":  # the worker's own check is a real command line too
        args = _parser().parse_args(test[2:])
        assert args.handler.__name__ == "worker_command" and args.check
    if name == "app":
        assert "/readyz" in " ".join(test)


def test_the_gpu_worker_reserves_a_gpu_in_the_compose_syntax() -> None:
    gpu = SERVICES["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and device["driver"] == "nvidia"
    assert "cu" in gpu["build"]["args"]["TORCH_INDEX_URL"].rsplit("/", 1)[-1]
    assert gpu["image"] != SERVICES["worker"]["image"]  # a CUDA build of torch, its own image


def test_caddy_reads_the_caddyfile_as_intended() -> None:
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed (Debian: apt-get install caddy): Caddyfile not parsed")
    adapted = subprocess.run(
        [caddy, "adapt", "--config", str(ROOT / "deploy" / "Caddyfile"), "--adapter", "caddyfile"],
        env={"PATH": "/usr/bin:/bin", "CHATBOT_SITE": ":80"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (server,) = json.loads(adapted.stdout)["apps"]["http"]["servers"].values()
    assert server["listen"] == [":80"]
    proxy = server["routes"][0]["handle"][-1]
    assert proxy["handler"] == "reverse_proxy"
    port = _parser().parse_args(SERVICES["app"]["command"][1:]).port
    assert proxy["dynamic_upstreams"] == {
        "name": "app",
        "port": str(port),
        "refresh": 5_000_000_000,
        "source": "a",
    }
