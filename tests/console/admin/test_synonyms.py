"""The synonyms page in the admin console (chatbot/console/admin/synonyms.py), and synonym rows in
knowledge base files uploaded and downloaded there."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from tests.api.conftest import (
    Staff,
    audit_actions,
)
from tests.api.test_synonyms import GROUPS, stored
from tests.console.admin.test_knowledge import confirm, confirm_token, upload


def problems_on(page: str) -> list[str]:
    block = re.search(r'data-testid="synonyms-problems">(.*?)</ul>', page, re.S)
    assert block, "no problem list on the page"
    items = re.findall(r"<li>(.*?)</li>", block.group(1), re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", item)).split()) for item in items]


def test_the_page_edits_them_one_group_per_line(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    page = client.get("/admin/synonyms")
    assert page.status_code == 200 and 'data-testid="synonyms-form"' in page.text
    text = "退款 / 返现 / money back\n\n# delivery\n快递 | 包裹\n"
    saved = client.post("/admin/synonyms", data={"csrf_token": admin.csrf, "synonyms": text})
    assert saved.status_code == 200 and 'data-testid="synonyms-saved"' in saved.text
    assert "退款 / 返现 / money back\n快递 / 包裹" in html.unescape(saved.text)
    assert stored(db_url)[0] == [tuple(group) for group in GROUPS]

    revision = stored(db_url)[1]
    bad = client.post(
        "/admin/synonyms", data={"csrf_token": admin.csrf, "synonyms": "退款 / 退钱\n退钱"}
    )
    assert bad.status_code == 422
    assert problems_on(bad.text) == ["line 2: a synonym group needs at least two different terms"]
    assert "退款 / 退钱\n退钱" in html.unescape(bad.text)  # what was typed stays to be fixed
    assert stored(db_url) == ([tuple(group) for group in GROUPS], revision)
    refused = client.post("/admin/synonyms", data={"synonyms": "a / b"})  # no CSRF token
    assert refused.status_code == 403


def test_the_page_is_in_chinese_for_a_chinese_browser(client: TestClient, admin: Staff) -> None:
    page = client.get("/admin/synonyms", headers={"Accept-Language": "zh-CN"})
    assert "保存同义词" in page.text and "Save synonyms" not in page.text


def test_a_file_with_synonym_rows_replaces_them_after_the_preview(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    data = (
        "intent,question,answer,synonyms\n"
        "returns,How do I return an item?,You can return anything within **30 days**.,\n"
        ",,,退款 | 返现 | money back\n"
    ).encode()
    preview = upload(client, admin, "faq.csv", data)
    assert 'data-testid="kb-diff-synonyms"' in preview.text
    assert stored(db_url)[0] == []  # a preview writes nothing
    done = confirm(client, admin, confirm_token(preview.text))
    assert done.status_code == 200
    assert stored(db_url)[0] == [("退款", "返现", "money back")]
    [entry] = [e for e in audit_actions(db_url) if e[0] == "knowledge.import"]
    assert entry[3]["synonyms_replaced"] is True

    download = client.get("/admin/knowledge/export.csv")
    assert "退款 | 返现 | money back" in download.content.decode("utf-8-sig")


def test_a_file_with_a_bad_synonym_row_is_refused_with_its_row(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    data = b"question,answer,synonyms\nHours?,9 to 5.,\n,,\xe9\x80\x80\xe6\xac\xbe\n"
    response = upload(client, admin, "faq.csv", data)
    assert response.status_code == 422
    assert "row 3" in response.text and "at least two different terms" in response.text
    assert stored(db_url)[0] == []
