"""Settings: safe defaults locally, refusal to run insecurely in production."""

import os
import subprocess
import sys

from tests.conftest import REPO_ROOT


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_VAR_DIR"))}
    return subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def test_production_mode_without_a_secret_key_refuses_to_start(tmp_path):
    result = _run(["manage.py", "check"], DJANGO_ALLOWED_HOSTS="portal.example.com", PORTAL_VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_a_local_install_generates_and_keeps_its_secret_key(tmp_path):
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
    first = _run(["-c", code], DJANGO_SETTINGS_MODULE="mlopsportal.settings", PORTAL_VAR_DIR=str(tmp_path))
    second = _run(["-c", code], DJANGO_SETTINGS_MODULE="mlopsportal.settings", PORTAL_VAR_DIR=str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert len(first.stdout.strip()) >= 50
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_deploy_checks_pass_with_production_settings(tmp_path):
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DJANGO_ALLOWED_HOSTS="portal.example.com",
        DJANGO_SECRET_KEY="x" * 20 + "-a-long-random-production-secret-key-" + "y" * 20,
        PORTAL_VAR_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_debug_is_off_unless_asked_for(tmp_path):
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    result = _run(["-c", code], DJANGO_SETTINGS_MODULE="mlopsportal.settings", PORTAL_VAR_DIR=str(tmp_path))
    assert result.stdout.strip() == "False"


def test_an_unsupported_environment_manager_for_shadow_replays_refuses_to_start(tmp_path):
    result = _run(["manage.py", "check"], PORTAL_SHADOW_ENV_MANAGER="conda", PORTAL_VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "PORTAL_SHADOW_ENV_MANAGER must be local or uv (got 'conda')" in result.stderr
