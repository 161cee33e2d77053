"""A wheel of the project is enough to run it: built from a copy of the sources and installed in a
fresh virtual environment, it migrates a database and serves the demo page and the widget, with
its templates, static files, translations and migrations coming from the installed package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = (
    "chatbot/web/templates/demo.html",
    "chatbot/web/static/widget.js",
    "chatbot/web/i18n/zh/console.json",
    "chatbot/migrations/env.py",
    "chatbot/migrations/versions/0001_initial_schema.py",
)

# Run by the new environment's interpreter, from outside the repository. The page needs no model,
# so a constant stand-in saves loading the real one.
RENDER = """
import json, sys
from pathlib import Path

import torch
from fastapi.testclient import TestClient

import chatbot
from chatbot.api.i18n import catalog
from chatbot.config import Settings
from chatbot.main import create_app


class ConstantEncoder:
    dimension = 8

    def encode(self, texts, *, batch_size=64):
        return torch.nn.functional.normalize(torch.ones(len(texts), 8), dim=1)


data = Path(sys.argv[1])
settings = Settings(database_url=f"sqlite:///{data / 'chatbot.db'}", data_dir=data)
with TestClient(create_app(settings, encoder=ConstantEncoder())) as client:
    page = client.get("/")
    widget = client.get("/widget.js")
print(json.dumps({
    "package": chatbot.__file__,
    "page": [page.status_code, page.text],
    "widget": [widget.status_code, widget.headers["content-type"], widget.text],
    "zh_entries": len(catalog("zh")),
}))
"""


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def build_wheel(tmp_path: Path) -> Path:
    # From a copy, so the build leaves nothing (build/, egg-info) in the working tree.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT / "chatbot", source / "chatbot", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    dist = tmp_path / "dist"
    pip = (sys.executable, "-m", "pip")
    run(*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist, source, cwd=source)
    (wheel,) = dist.glob("chatbot-*.whl")
    return wheel


def fresh_environment(tmp_path: Path) -> Path:
    """A virtual environment that sees this one's dependencies, but not this checkout's package."""
    env = tmp_path / "env"
    run(sys.executable, "-m", "venv", "--without-pip", env, cwd=tmp_path)
    python = env / "bin" / "python"
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site_packages = Path(run(python, "-c", code, cwd=tmp_path).strip())
    # A .pth file's paths are added as they are: the editable install's own .pth in there (the
    # hook that maps `chatbot` to this checkout) is not run, so `chatbot` is the wheel's.
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site_packages / "dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    return env


def test_a_wheel_installed_elsewhere_migrates_and_serves_the_demo_page(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    assert set(SHIPPED) <= set(zipfile.ZipFile(wheel).namelist())

    env = fresh_environment(tmp_path)
    python = env / "bin" / "python"
    pip = (sys.executable, "-m", "pip", "--python", python)
    run(*pip, "install", "-q", "--no-deps", "--no-index", wheel, cwd=tmp_path)

    data = tmp_path / "data"
    data.mkdir()
    variables = {k: v for k, v in os.environ.items() if not k.startswith(("CHATBOT_", "PYTHON"))}
    variables["CHATBOT_DATABASE_URL"] = f"sqlite:///{data / 'chatbot.db'}"
    upgraded = run(env / "bin" / "chatbot", "db", "upgrade", cwd=tmp_path, env=variables)
    assert "is up to date" in upgraded

    served = json.loads(run(python, "-c", RENDER, data, cwd=tmp_path, env=variables))
    assert Path(served["package"]).resolve().is_relative_to(env.resolve())
    status, page = served["page"]
    assert status == 200
    assert '<script src="/widget.js"' in page
    status, content_type, script = served["widget"]
    assert (status, content_type.split(";")[0]) == (200, "text/javascript")
    assert script.lstrip().startswith("/*") and "/api/v1" in script
    assert served["zh_entries"] > 0
