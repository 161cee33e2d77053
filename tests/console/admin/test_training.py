"""The admin console's training page (who may open it, and its translations, are tested with
the model pages in test_models.py; the runs themselves in tests/api/test_training.py).
"""

from __future__ import annotations

import json
import re

import torch
from fastapi.testclient import TestClient

from tests.api.conftest import Staff


def test_the_training_page_offers_the_devices_this_machine_has(
    client: TestClient, admin: Staff
) -> None:
    response = client.get("/admin/training")
    assert response.status_code == 200
    page = response.text
    for testid in ("training-start", "training-progress", "training-status"):
        assert f'data-testid="{testid}"' in page
    assert 'role="progressbar"' in page
    cuda = re.search(r'<option value="cuda"([^>]*)>', page)
    assert cuda is not None
    assert ("disabled" in cuda.group(1)) is not torch.cuda.is_available()
    strings = json.loads(re.search(r'id="page-strings">(.*?)</script>', page, re.S).group(1))
    assert strings["running"] == "running"


def test_the_training_page_speaks_chinese(client: TestClient, admin: Staff) -> None:
    client.cookies.set("chatbot_lang", "zh")
    page = client.get("/admin/training").text
    assert "开始训练" in page and "最近的训练" in page
    strings = json.loads(re.search(r'id="page-strings">(.*?)</script>', page, re.S).group(1))
    assert strings["succeeded"] == "已完成"
