"""The knowledge base pages (chatbot/console/admin/knowledge.py): list, edit, delete, upload with
preview, download.

Pages are driven as a browser would (form posts with the CSRF field); assertions read the
data-testid attributes the pages expose, and the database through chatbot.db.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from chatbot.config import Settings
from chatbot.db.knowledge import find_intent
from chatbot.knowledge.spec import IntentSpec
from tests.api.conftest import (
    KNOWLEDGE,
    XSS,
    Staff,
    add_account,
    another_browser,
    audit_actions,
    database,
    revision,
    sign_in,
    start_conversation,
    stored_intents,
)

FORMATS = ("csv", "json", "jsonl", "xlsx")
GIFTS_FORM = {
    "key": "gifts",
    "language": "en",
    "category": "Extras",
    "phrasings": "Do you wrap gifts?\r\nCan you gift wrap my order?",
    "answer": "Yes, **free** gift wrapping.",
    "follow_ups": ["returns"],
}
# What a naive export loses: `|` in a phrasing, a Markdown table, Chinese, a formula look-alike.
TRICKY_FORM = {
    "key": "尺码",
    "language": "zh",
    "category": "商品",
    "phrasings": "有哪些尺码？\nS|M|L 有货吗？\n=1+1",
    "answer": "| 尺码 | 胸围 |\n|---|---|\n| S | 90 |\n\n**欢迎**咨询。",
    "follow_ups": ["returns", "wood_care"],
}
CSV_HEADER = "intent,question,answer\n"


def row_keys(page: str) -> list[str]:
    return [
        html.unescape(k)
        for k in re.findall(r'data-testid="kb-intent-row" data-key="([^"]*)"', page)
    ]


def diff_counts(page: str) -> dict[str, int]:
    section = re.search(r'data-testid="kb-upload-diff"\s+(.*?)>', page, re.S)
    assert section, "no preview on the page"
    return {name: int(n) for name, n in re.findall(r'data-(\w+)="(\d+)"', section.group(1))}


def listed_problems(page: str) -> list[str]:
    block = re.search(r'data-testid="kb-upload-problems">(.*?)</ul>', page, re.S)
    assert block, "no problem list on the page"
    items = re.findall(r"<li>(.*?)</li>", block.group(1), re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", item)).split()) for item in items]


def field_problems(page: str, field: str) -> list[str]:
    block = re.search(rf'data-testid="kb-problems-{field}">(.*?)</ul>', page, re.S)
    return (
        [html.unescape(m) for m in re.findall(r"<li>(.*?)</li>", block.group(1))] if block else []
    )


def confirm_token(page: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', page)
    assert found, "no confirm button on the page"
    return found.group(1)


def upload(
    client: TestClient, admin: Staff, name: str, data: bytes, *, replace: bool = False
) -> Any:
    fields = {"csrf_token": admin.csrf} | ({"replace": "true"} if replace else {})
    return client.post("/admin/knowledge/upload", data=fields, files={"file": (name, data)})


def confirm(client: TestClient, admin: Staff, token: str) -> Any:
    return client.post(
        "/admin/knowledge/upload/confirm", data={"csrf_token": admin.csrf, "token": token}
    )


def save_form(client: TestClient, admin: Staff, form: dict[str, Any], key: str = "new") -> Any:
    return client.post(
        f"/admin/knowledge/{key}", data={"csrf_token": admin.csrf, **form}, follow_redirects=False
    )


def pending_uploads(settings: Settings) -> list[Path]:
    folder = settings.data_dir / "uploads"
    return sorted(folder.iterdir()) if folder.exists() else []


# ---- who may


@pytest.mark.parametrize(
    "path", ["/admin/knowledge", "/admin/knowledge/new", "/admin/knowledge/returns",
             "/admin/knowledge/upload", "/admin/knowledge/export.csv"],
)  # fmt: skip
def test_pages_are_for_admins_only(client: TestClient, db_url: str, path: str) -> None:
    anonymous = client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=")

    add_account(db_url, "sam@staff.example", "staff")
    sign_in(client, "sam@staff.example")
    assert client.get(path).status_code == 403


def test_changes_need_the_csrf_token(client: TestClient, admin: Staff, db_url: str) -> None:
    before = stored_intents(db_url)
    form = {k: v for k, v in GIFTS_FORM.items()}
    assert client.post("/admin/knowledge/new", data=form).status_code == 403
    assert client.post("/admin/knowledge/returns/delete").status_code == 403
    refused = client.post(
        "/admin/knowledge/upload", files={"file": ("kb.csv", b"question,answer\nQ?,A.\n")}
    )
    assert refused.status_code == 403
    assert stored_intents(db_url) == before


# ---- the list


def test_the_list_shows_every_intent_with_its_details(client: TestClient, admin: Staff) -> None:
    page = client.get("/admin/knowledge").text

    assert row_keys(page) == [intent.key for intent in KNOWLEDGE]
    assert "How long does delivery take?" in page  # the first question
    assert 'href="/admin/knowledge/export.xlsx"' in page


def test_the_edit_form_shows_a_hostile_answer_as_text_and_previews_it_sanitised(
    client: TestClient, admin: Staff
) -> None:
    page = client.get("/admin/knowledge/wood_care").text
    answer = next(intent.answer for intent in KNOWLEDGE if intent.key == "wood_care")
    assert XSS in answer

    # The textarea holds the answer exactly, escaped: the browser shows it as text to edit.
    textarea = re.search(r'<textarea name="answer"[^>]*>(.*?)</textarea>', page, re.S)
    assert textarea, "no answer field on the page"
    assert html.unescape(textarea.group(1)) == answer
    assert "<" not in textarea.group(1)

    # The preview is the one place the console inserts markup (`|safe`): sanitised HTML only.
    preview = re.search(r'data-testid="kb-answer-preview"[^>]*>(.*?)</div>', page, re.S)
    assert preview, "no answer preview on the page"
    assert "<strong>Oiled oak</strong>" in preview.group(1)  # the Markdown did render
    assert "&lt;script&gt;" in preview.group(1)  # the markup is shown as text
    assert not re.search(r"<(script|img)\b|=\s*[\"']?javascript:", preview.group(1), re.I)
    assert XSS not in page


@pytest.mark.parametrize(
    ("query", "keys"),
    [
        ({"q": "REFUND"}, ["refund_time"]),  # a phrasing, ignoring case
        ({"q": "oiled"}, ["wood_care"]),  # the answer
        ({"q": "delivery_t"}, ["delivery_time"]),  # the key
        ({"q": "send something back"}, ["returns"]),  # a later phrasing
        ({"language": "zh"}, []),
        ({"q": "nothing like this"}, []),
    ],
)
def test_search_and_filters(
    client: TestClient, admin: Staff, query: dict[str, str], keys: list[str]
) -> None:
    page = client.get("/admin/knowledge", params=query).text
    assert row_keys(page) == keys


def test_category_filter(client: TestClient, admin: Staff) -> None:
    assert save_form(client, admin, GIFTS_FORM).status_code == 303
    page = client.get("/admin/knowledge", params={"category": "Extras"}).text
    assert row_keys(page) == ["gifts"]
    assert '<option value="Extras" selected>' in page


# ---- add, edit, delete


def test_adding_an_intent_stores_audits_and_answers_at_once(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    start = revision(db_url)

    response = save_form(client, admin, GIFTS_FORM)

    assert response.status_code == 303
    assert response.headers["location"] == "/admin/knowledge?saved=gifts"
    gifts = IntentSpec(
        "gifts",
        "Yes, **free** gift wrapping.",
        ("Do you wrap gifts?", "Can you gift wrap my order?"),
        "Extras",
        "en",
        ("returns",),
    )
    assert stored_intents(db_url)[-1] == gifts
    assert revision(db_url) == start + 1
    action, target, before, after = audit_actions(db_url)[-1]
    assert (action, target, before) == ("intent.create", "gifts", None)
    assert after["phrasings"] == list(gifts.phrasings)
    # The running bot answers from the new intent without a restart.
    customer = start_conversation(client)
    reply = client.post(
        customer.messages_url, json={"text": "Do you wrap gifts?"}, headers=customer.headers
    ).json()["reply"]
    assert reply["intent"] == "gifts"


def test_a_bad_form_lists_problems_by_field_and_writes_nothing(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    before, start = stored_intents(db_url), revision(db_url)
    form = GIFTS_FORM | {
        "key": "returns",
        "phrasings": "Do you wrap gifts?\nwhen will I get my REFUND?",
        "answer": " ",
        "follow_ups": ["returns", "no_such_intent"],
    }

    response = save_form(client, admin, form)

    assert response.status_code == 422
    page = response.text
    assert 'data-testid="kb-form-error"' in page
    assert field_problems(page, "answer") == ["Write the answer."]
    # The form keeps what was typed.
    assert "when will I get my REFUND?" in page
    response = save_form(client, admin, form | {"answer": "A."})
    assert response.status_code == 422
    assert field_problems(response.text, "key") == ["An intent called 'returns' already exists."]
    assert field_problems(response.text, "phrasings") == [
        "'when will I get my REFUND?' is already a phrasing of 'refund_time'."
    ]
    assert field_problems(response.text, "follow_ups") == [
        "An intent cannot follow up itself.",
        "No intent is called 'no_such_intent'.",
    ]
    assert stored_intents(db_url) == before
    assert revision(db_url) == start
    assert audit_actions(db_url) == []


def test_problems_are_translated(client: TestClient, admin: Staff) -> None:
    client.cookies.set("chatbot_lang", "zh")
    response = save_form(client, admin, GIFTS_FORM | {"answer": ""})
    assert field_problems(response.text, "answer") == ["请填写回答。"]
    assert "未保存任何内容" in response.text


def test_editing_an_intent_records_before_and_after(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    page = client.get("/admin/knowledge/delivery_time").text
    assert "How long does delivery take?\nWhen will my order arrive?" in html.unescape(page)
    assert re.search(r'value="returns"\s+checked', page)  # its follow-up is ticked
    assert 'value="delivery_time"' not in page  # it cannot follow up itself

    form = {
        "language": "en",
        "category": "Delivery",
        "phrasings": "How long does delivery take?\nHow fast do you ship?",
        "answer": "Standard delivery takes **2-4** working days.",
        "follow_ups": [],
    }
    response = save_form(client, admin, form, key="delivery_time")

    assert response.status_code == 303
    edited = find_intent_in(db_url, "delivery_time")
    assert edited.phrasings == ("How long does delivery take?", "How fast do you ship?")
    assert (edited.category, edited.follow_ups) == ("Delivery", ())
    action, target, before, after = audit_actions(db_url)[-1]
    assert (action, target) == ("intent.update", "delivery_time")
    assert before["answer"] == "Standard delivery takes 3-5 working days."
    assert after["answer"] == "Standard delivery takes **2-4** working days."


def test_a_save_over_someone_elses_edit_is_409_and_keeps_the_typing(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    page = client.get("/admin/knowledge/refund_time").text
    opened = re.search(r'name="version" value="([0-9a-f]+)"', page)
    assert opened, "the form carries no version"
    form = {
        "language": "en",
        "phrasings": "When will I get my refund?",
        "answer": "Refunds arrive within a week.",
        "version": opened.group(1),
    }
    assert save_form(client, admin, form, key="refund_time").status_code == 303

    # A second admin had the same form open and saves their own edit.
    stale = save_form(client, admin, form | {"answer": "Mine."}, key="refund_time")
    assert stale.status_code == 409
    assert 'data-testid="kb-conflict"' in stale.text and "Mine." in stale.text
    assert find_intent_in(db_url, "refund_time").answer == "Refunds arrive within a week."
    # The page now holds the newer version: saving again replaces it, knowingly.
    newer = re.search(r'name="version" value="([0-9a-f]+)"', stale.text)
    assert newer and newer.group(1) != opened.group(1)
    again = save_form(
        client, admin, form | {"answer": "Mine.", "version": newer.group(1)}, "refund_time"
    )
    assert again.status_code == 303
    assert find_intent_in(db_url, "refund_time").answer == "Mine."
    assert [a for a, *_ in audit_actions(db_url)] == ["intent.update", "intent.update"]


@pytest.mark.parametrize("key", ["export.pdf", "100% sure?", "a#b&c=d"])
def test_keys_that_look_like_addresses_open_their_own_page(
    client: TestClient, admin: Staff, key: str
) -> None:
    form = {"key": key.replace(" ", "_"), "phrasings": "Q?", "answer": "A.", "language": "en"}
    assert save_form(client, admin, form).status_code == 303
    quoted = quote(form["key"], safe="")
    page = client.get(f"/admin/knowledge/{quoted}")
    assert page.status_code == 200 and f'action="/admin/knowledge/{quoted}"' in page.text
    assert client.get(f"/admin/knowledge/{quoted}/delete").status_code == 200
    deleted = client.post(f"/admin/knowledge/{quoted}/delete", headers=admin.headers)
    assert deleted.status_code == 200  # followed to the list


def find_intent_in(db_url: str, key: str) -> IntentSpec:
    with database(db_url) as session:
        intent = find_intent(session, key)
    assert intent is not None
    return intent


def test_saving_without_changes_writes_no_audit_record(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    start = revision(db_url)
    form = {
        "language": "en",
        "category": "",
        "phrasings": "When will I get my refund?\nHow long does a refund take?",
        "answer": "Refunds arrive within 3-5 working days.",
    }
    assert save_form(client, admin, form, key="refund_time").status_code == 303
    assert revision(db_url) == start
    assert audit_actions(db_url) == []


def test_an_unknown_intent_is_404(client: TestClient, admin: Staff) -> None:
    assert client.get("/admin/knowledge/nope").status_code == 404
    assert save_form(client, admin, {"answer": "A.", "phrasings": "Q?"}, "nope").status_code == 404
    response = client.post("/admin/knowledge/nope/delete", headers=admin.headers)
    assert response.status_code == 404


def test_deleting_asks_first_and_unlinks_follow_ups(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    page = client.get("/admin/knowledge/returns/delete").text
    assert 'data-testid="kb-delete-sources"' in page
    assert "<code>delivery_time</code>" in page  # it offers `returns` as a follow-up

    response = client.post(
        "/admin/knowledge/returns/delete",
        data={"csrf_token": admin.csrf},
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert [intent.key for intent in stored_intents(db_url)] == [
        "refund_time",
        "delivery_time",
        "wood_care",
    ]
    assert find_intent_in(db_url, "delivery_time").follow_ups == ()
    action, target, before, after = audit_actions(db_url)[-1]
    assert (action, target) == ("intent.delete", "returns")
    assert before["key"] == "returns"
    assert after == {"removed_from_follow_ups_of": ["delivery_time"]}
    assert 'data-testid="kb-deleted"' in client.get(response.headers["location"]).text


# ---- uploads


def test_a_bad_file_lists_every_problem_and_writes_nothing(
    client: TestClient, admin: Staff, db_url: str, settings: Settings
) -> None:
    before, start = stored_intents(db_url), revision(db_url)
    data = (
        (
            CSV_HEADER + "gifts,Do you wrap gifts?,Yes.\n"
            "gifts,,Yes.\n"  # row 3: no question
            "bad/key!,Hello?,Hi.\n"  # row 4: a bad key
        ).encode()
    )

    response = upload(client, admin, "faq.csv", data)

    assert response.status_code == 422
    assert listed_problems(response.text) == [
        "faq.csv row 3 column question missing question",
        "faq.csv row 4 column intent invalid intent key 'bad/key!': "
        "use 1-200 printable characters without spaces, ',', '|' or '/'",
    ]
    assert 'data-testid="kb-upload-confirm"' not in response.text
    assert stored_intents(db_url) == before and revision(db_url) == start
    assert pending_uploads(settings) == []


def test_a_missing_follow_up_is_a_problem_of_the_whole_file(
    client: TestClient, admin: Staff
) -> None:
    data = b"intent,question,answer,follow_ups\ngifts,Wrap?,Yes.,nowhere\n"
    response = upload(client, admin, "faq.csv", data)
    assert response.status_code == 422
    assert listed_problems(response.text) == [
        "faq.csv column follow_ups intent 'gifts' has a follow-up to 'nowhere', "
        "which does not exist"
    ]


def test_a_file_over_the_limit_is_refused(
    client: TestClient, admin: Staff, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "max_import_bytes", 40)
    data = (CSV_HEADER + "a,Q?,A.\n" * 10).encode()
    response = upload(client, admin, "faq.csv", data)
    assert response.status_code == 422
    assert listed_problems(response.text) == [
        f"faq.csv file too large: {len(data)} bytes, the limit is 40 bytes"
    ]
    assert pending_uploads(settings) == []


def test_no_file_chosen(client: TestClient, admin: Staff) -> None:
    response = client.post("/admin/knowledge/upload", data={"csrf_token": admin.csrf})
    assert response.status_code == 422
    assert listed_problems(response.text) == ["Choose a file to upload."]


def test_preview_then_confirm_applies_the_file_and_audits_it(
    client: TestClient, admin: Staff, db_url: str, settings: Settings
) -> None:
    start = revision(db_url)
    data = (
        CSV_HEADER + "gifts,Do you wrap gifts?,Yes.\n"
        'refund_time,When will I get my refund?,"Refunds take **2** days."\n'
    ).encode()

    preview = upload(client, admin, "faq.csv", data)

    assert preview.status_code == 200
    assert diff_counts(preview.text) == {"added": 1, "changed": 1, "removed": 0, "unchanged": 3}
    assert "<code>gifts</code>" in preview.text
    # What changed in refund_time: its answer, and one phrasing the file lacks.
    assert re.search(
        r"<code>refund_time</code>:\s*<span class=\"badge\">answer</span>", preview.text
    )
    assert "− How long does a refund take?" in preview.text
    assert revision(db_url) == start  # a preview writes nothing
    assert len(pending_uploads(settings)) == 2  # the bytes and who uploaded them

    applied = confirm(client, admin, confirm_token(preview.text))

    assert applied.status_code == 200
    assert 'data-testid="kb-upload-done"' in applied.text
    assert diff_counts(applied.text) == {"added": 1, "changed": 1, "removed": 0, "unchanged": 3}
    assert find_intent_in(db_url, "refund_time").answer == "Refunds take **2** days."
    assert revision(db_url) == start + 1
    assert audit_actions(db_url)[-1] == (
        "knowledge.import",
        "faq.csv",
        {"revision": start},
        {
            "file": "faq.csv",
            "replace": False,
            "added": ["gifts"],
            "changed": ["refund_time"],
            "removed": [],
            "synonyms_replaced": False,
            "revision": start + 1,
        },
    )
    assert pending_uploads(settings) == []


def test_replace_removes_what_the_file_lacks(client: TestClient, admin: Staff, db_url: str) -> None:
    data = json.dumps([{"intent": "gifts", "question": "Wrap?", "answer": "Yes."}]).encode()

    preview = upload(client, admin, "faq.json", data, replace=True)

    assert diff_counts(preview.text) == {"added": 1, "changed": 0, "removed": 4, "unchanged": 0}
    assert 'data-testid="kb-diff-removed"' in preview.text
    confirm(client, admin, confirm_token(preview.text))
    assert [intent.key for intent in stored_intents(db_url)] == ["gifts"]


def test_a_token_is_used_once_by_whoever_uploaded(
    client: TestClient, admin: Staff, app: Any, db_url: str, settings: Settings
) -> None:
    preview = upload(client, admin, "faq.csv", (CSV_HEADER + "gifts,Wrap?,Yes.\n").encode())
    token = confirm_token(preview.text)

    # Another admin, in another browser, cannot apply it.
    add_account(db_url, "bo@admin.example", "admin")
    other = another_browser(client)
    other_csrf = sign_in(other, "bo@admin.example")
    stolen = other.post(
        "/admin/knowledge/upload/confirm", data={"csrf_token": other_csrf, "token": token}
    )
    assert stolen.status_code == 410
    assert "expired or was already applied" in stolen.text
    assert [intent.key for intent in stored_intents(db_url)][-1] == "wood_care"

    assert confirm(client, admin, token).status_code == 200
    for attempt in (token, "not-a-token", "../../chatbot.db"):
        assert confirm(client, admin, attempt).status_code == 410
    assert [intent.key for intent in stored_intents(db_url)][-1] == "gifts"


def test_confirm_applies_the_file_even_if_the_knowledge_base_moved_on(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    preview = upload(client, admin, "faq.csv", (CSV_HEADER + "gifts,Wrap?,Yes.\n").encode())
    assert diff_counts(preview.text)["added"] == 1
    save_form(client, admin, GIFTS_FORM)  # someone adds `gifts` meanwhile

    applied = confirm(client, admin, confirm_token(preview.text))

    # The file wins, and the page shows what actually happened.
    assert diff_counts(applied.text) == {"added": 0, "changed": 1, "removed": 0, "unchanged": 4}
    assert find_intent_in(db_url, "gifts").answer == "Yes."


def test_an_unchanged_file_offers_nothing_to_confirm(
    client: TestClient, admin: Staff, settings: Settings
) -> None:
    answer = "Refunds arrive within 3-5 working days."
    data = (
        CSV_HEADER + f"refund_time,When will I get my refund?,{answer}\n"
        "refund_time,How long does a refund take?,\n"
    ).encode()
    preview = upload(client, admin, "faq.csv", data)
    assert diff_counts(preview.text) == {"added": 0, "changed": 0, "removed": 0, "unchanged": 4}
    assert 'data-testid="kb-upload-no-changes"' in preview.text
    assert 'data-testid="kb-upload-confirm"' not in preview.text
    assert pending_uploads(settings) == []


# ---- downloads: the "done when"


@pytest.mark.parametrize("file_format", FORMATS)
def test_a_downloaded_knowledge_base_uploads_back_without_changes(
    client: TestClient, admin: Staff, db_url: str, file_format: str
) -> None:
    assert save_form(client, admin, TRICKY_FORM).status_code == 303
    assert save_form(client, admin, GIFTS_FORM).status_code == 303
    stored = stored_intents(db_url)

    download = client.get(f"/admin/knowledge/export.{file_format}")

    assert download.status_code == 200
    assert download.headers["content-disposition"] == (
        f'attachment; filename="knowledge-base.{file_format}"'
    )
    for replace in (False, True):
        preview = upload(client, admin, f"knowledge-base.{file_format}", download.content,
                         replace=replace)  # fmt: skip
        assert preview.status_code == 200, listed_problems(preview.text)
        assert diff_counts(preview.text) == {
            "added": 0,
            "changed": 0,
            "removed": 0,
            "unchanged": len(stored),
        }
    assert stored_intents(db_url) == stored


def test_an_upload_left_over_an_hour_expires(
    client: TestClient, admin: Staff, db_url: str, settings: Settings
) -> None:
    preview = upload(client, admin, "faq.csv", (CSV_HEADER + "gifts,Wrap?,Yes.\n").encode())
    token = confirm_token(preview.text)
    meta = settings.data_dir / "uploads" / f"{token}.json"
    kept = json.loads(meta.read_text())
    meta.write_text(json.dumps(kept | {"at": kept["at"] - 3601}))

    refused = confirm(client, admin, token)

    assert refused.status_code == 410
    assert [intent.key for intent in stored_intents(db_url)][-1] == "wood_care"
    assert pending_uploads(settings) == []


# ---- an intent's action


ORDER_ACTION = {
    "slots": [
        {
            "name": "order_number",
            "prompt": {"en": "What is your order number?"},
            "validator": {"regex": "[A-Z]{2}[0-9]{4}"},
        }
    ],
    "call": {
        "method": "GET",
        "url": "https://orders.example/api/orders/{order_number}",
        "headers": {"Authorization": "Bearer {secret:ORDERS_TOKEN}"},
        "timeout_s": 4.0,
    },
    "answer": {"en": "Order {{ slots.order_number }}: {{ response.state }}"},
}
ORDER_FORM = {
    "key": "order_status",
    "language": "en",
    "phrasings": "Where is my order?",
    "answer": "I can look up your order.",
    "action": json.dumps(ORDER_ACTION),
}


def test_an_action_is_saved_from_the_form_audited_and_shown_again(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    response = save_form(client, admin, ORDER_FORM)

    assert response.status_code == 303, response.text
    stored = find_intent_in(db_url, "order_status")
    assert stored.action is not None and stored.action.to_json() == ORDER_ACTION
    action, target, _before, after = audit_actions(db_url)[-1]
    assert (action, target) == ("intent.create", "order_status")
    assert after["action"]["call"]["headers"] == [["Authorization", "Bearer {secret:ORDERS_TOKEN}"]]
    page = client.get("/admin/knowledge/order_status").text
    shown = re.search(r'data-testid="kb-action"[^>]*>(.*?)</textarea>', page, re.S)
    assert shown and json.loads(html.unescape(shown.group(1))) == ORDER_ACTION


def test_a_bad_action_is_named_and_nothing_is_written(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    before, start = stored_intents(db_url), revision(db_url)
    bad = json.loads(ORDER_FORM["action"])
    bad["call"]["method"] = "FETCH"
    bad["answer"]["en"] = "{% if found %}"

    response = save_form(client, admin, ORDER_FORM | {"action": json.dumps(bad)})

    assert response.status_code == 422
    problems = field_problems(response.text, "action")
    assert problems[0] == (
        'call.method: unknown method "FETCH": use one of GET, POST, PUT, PATCH, DELETE'
    )
    assert problems[1].startswith("answer.en: template error on line 1:")
    assert stored_intents(db_url) == before and revision(db_url) == start


def test_an_upload_with_an_action_previews_it_as_a_change(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    save_form(client, admin, ORDER_FORM)
    changed = dict(ORDER_ACTION, answer={"en": "{{ response.state }}"})
    row = {
        "intent": "order_status",
        "question": "Where is my order?",
        "answer": "I can look up your order.",
        "action": changed,
    }

    page = upload(client, admin, "kb.jsonl", (json.dumps(row) + "\n").encode()).text

    assert diff_counts(page)["changed"] == 1
    assert ">action</span>" in page
