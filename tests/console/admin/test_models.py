"""The admin console's model pages: the versions, a version's report and its images, two
versions compared; who may open them and the training page, and their translations (the
training page's own content is tested in test_training.py).

The JSON routes behind them (training runs, activating, the test pane) are tested in
tests/api/test_training.py and tests/api/test_models.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chatbot.db.model_versions import activate, get_version
from chatbot.db.session import make_engine, make_session_factory, transaction
from chatbot.evaluation.version_reports import compare_intents, report_image
from chatbot.nlu.scope import DEFAULT_STRICTNESS, OutOfScopeCurve
from tests.api.conftest import Staff
from tests.api.model_admin import BASE, PNG, register, write_report

PAGES = ["/admin/training", "/admin/models", f"/admin/models/{BASE}"]


def fake_version(
    tmp_path: Path,
    name: str,
    truth: list[str | None],
    predicted: list[str | None],
    languages: list[str] | None = None,
):
    directory = tmp_path / name
    directory.mkdir()
    (directory / "chatbot_model.json").write_text('{"secret": true}', encoding="utf-8")
    write_report(directory, truth, predicted, languages)
    return directory


# Who may see the pages


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client: TestClient, path: str) -> None:
    response = client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("path", PAGES)
def test_staff_members_may_not_open_them(client: TestClient, staff: Staff, path: str) -> None:
    assert client.get(path).status_code == 403


# Their Chinese translations (one catalogue, models.json)


def test_every_string_of_these_pages_has_a_chinese_translation() -> None:
    catalog = json.loads(Path("chatbot/web/i18n/zh/models.json").read_text(encoding="utf-8"))
    templates = ["training.html", "models.html", "model.html", "compare.html"]
    used = set()
    for name in templates:
        text = Path("chatbot/web/templates/console", name).read_text(encoding="utf-8")
        used |= set(re.findall(r'_\("((?:[^"\\]|\\.)*)"', text))
    for page in ("models.py", "training.py"):
        source = Path("chatbot/console/admin", page).read_text(encoding="utf-8")
        used |= set(re.findall(r'_\("((?:[^"\\]|\\.)*)"', source))
    assert used - set(catalog) == set()


# The models page


def test_the_base_version_is_listed_as_active_with_nothing_to_activate(
    client: TestClient, admin: Staff
) -> None:
    page = client.get("/admin/models").text
    assert page.count('data-testid="model-row"') == 1
    assert f'data-version="{BASE}"' in page
    assert 'data-testid="model-active"' in page
    assert 'data-testid="model-activate"' not in page


def test_versions_show_their_metrics_and_older_ones_offer_a_roll_back(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    metrics = {"accuracy": 0.91234, "macro_f1": 0.875, "n": 40, "training_seconds": 12.34}
    register(db_url, "ft-one", metrics=metrics)
    register(db_url, "ft-half", status="training")
    page = client.get("/admin/models").text
    rows = re.findall(r'<tr data-testid="model-row".*?</tr>', page, re.S)
    assert [re.search(r'data-version="([^"]+)"', r).group(1) for r in rows] == [
        "ft-half",
        "ft-one",
        BASE,
    ]  # newest first
    half, one, base = rows
    assert "0.912" in one and "0.875" in one and "12.3" in one and ">40<" in one
    assert "Activate</button>" in one
    assert "model-activate" not in half  # not ready: nothing to click
    assert 'data-testid="model-active"' in base
    assert 'name="a"' in page and 'name="b"' in page  # the compare form

    engine = make_engine(db_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            row = get_version(session, "ft-one")
            assert row is not None
            activate(session, row)
    finally:
        engine.dispose()
    page = client.get("/admin/models").text
    base_row = re.search(rf'<tr data-testid="model-row" data-version="{BASE}".*?</tr>', page, re.S)
    assert base_row is not None and "Roll back</button>" in base_row.group(0)


# A version's report and its images


def test_the_base_version_says_it_has_no_report(client: TestClient, admin: Staff) -> None:
    page = client.get(f"/admin/models/{BASE}").text
    assert 'data-testid="no-report"' in page
    assert "The base model has no evaluation report" in page
    assert 'data-testid="report-image"' not in page
    assert 'data-testid="test-pane-input"' in page  # it can still be tried
    strings = json.loads(re.search(r'id="page-strings">(.*?)</script>', page, re.S).group(1))
    assert {strings[word] for word in ("answer", "clarify", "fallback")} == {
        "answer",
        "clarify",
        "fallback",
    }


def test_unknown_versions_are_404(client: TestClient, admin: Staff) -> None:
    assert client.get("/admin/models/ft-nope").status_code == 404
    assert client.get("/admin/models/ft-nope/images/confusion.png").status_code == 404
    assert client.get(f"/admin/models/compare?a={BASE}&b=ft-nope").status_code == 404


def test_a_report_shows_per_intent_scores_confusions_and_charts(
    client: TestClient, admin: Staff, db_url: str, tmp_path: Path
) -> None:
    truth = ["returns", "returns", "refund_time", "refund_time", None]
    predicted = ["returns", "refund_time", "refund_time", "refund_time", None]
    register(db_url, "ft-rep", fake_version(tmp_path, "ft-rep", truth, predicted))
    page = client.get("/admin/models/ft-rep").text
    assert page.count('data-testid="per-intent-row"') == 2
    assert re.search(r"<td>returns</td><td>refund_time</td><td class=\"num\">1</td>", page)
    images = re.findall(r'<img data-testid="report-image" src="([^"]+)" alt="([^"]+)"', page)
    assert [src.rsplit("/", 1)[1] for src, _ in images] == [
        "confusion.png",
        "calibration.png",
        "confidence.png",
    ]
    assert all(alt for _, alt in images)
    for src, _ in images:
        response = client.get(src)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert response.content.startswith(PNG)


def test_a_report_shows_each_languages_figures(
    client: TestClient, admin: Staff, db_url: str, tmp_path: Path
) -> None:
    truth = ["returns", "returns", None, "returns", "refund_time", "refund_time", None]
    predicted = ["returns", "refund_time", "returns", "returns", "returns", None, None]
    languages = ["en", "en", "en", "zh", "zh", "zh", "zh"]
    register(db_url, "ft-lang", fake_version(tmp_path, "ft-lang", truth, predicted, languages))

    def rows(page: str) -> dict[str, tuple[str, ...]]:
        found = re.findall(
            r'<tr data-testid="per-language-row" data-language="(\w+)">(.*?)</tr>', page, re.S
        )
        return {
            language: tuple(
                re.sub(r"<[^>]+>", "", cell)
                for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
            )
            for language, row in found
        }

    page = client.get("/admin/models/ft-lang").text
    # Language, messages, in scope, accuracy, answered, out of scope, out-of-scope recall.
    # en: one right of two, both answered; the outsider was answered (not caught).
    # zh: one right of three, two answered; the outsider fell back (caught).
    assert rows(page) == {
        "en": ("English", "3", "2", "0.500", "1.000", "1", "0.000"),
        "zh": ("中文", "4", "3", "0.333", "0.667", "1", "1.000"),
    }
    assert '<h3 id="language-heading">Per language</h3>' in page
    client.cookies.set("chatbot_lang", "zh")
    chinese = client.get("/admin/models/ft-lang").text
    assert rows(chinese) == rows(page)
    assert "各语言" in chinese and "范围内" in chinese and "已回答" in chinese
    assert "Per language" not in chinese and ">Answered<" not in chinese


def test_a_report_without_languages_has_no_language_table(
    client: TestClient, admin: Staff, db_url: str, tmp_path: Path
) -> None:
    register(db_url, "ft-old", fake_version(tmp_path, "ft-old", ["returns"], ["returns"]))
    page = client.get("/admin/models/ft-old").text
    assert 'data-testid="per-intent-table"' in page  # a report, written before languages
    assert 'data-testid="per-language-table"' not in page


def test_a_report_lays_out_strictness_on_the_measured_curve_and_marks_the_one_in_force(
    client: TestClient, admin: Staff, db_url: str, tmp_path: Path
) -> None:
    directory = fake_version(tmp_path, "ft-curve", ["returns", None], ["returns", "returns"])
    report_file = directory / "report" / "report.json"
    report = json.loads(report_file.read_text(encoding="utf-8"))
    curve = OutOfScopeCurve.measure([0.9, 0.8, 0.45], [0.1, 0.3, 0.6])
    report["oos_curve"] = curve.to_list()
    report_file.write_text(json.dumps(report), encoding="utf-8")
    register(db_url, "ft-curve", directory)

    def rows() -> list[tuple[str, ...]]:
        page = client.get("/admin/models/ft-curve").text
        return [
            tuple(re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row))
            + (("chosen",) if 'aria-current="true"' in row else ())
            for row in re.findall(r'<tr data-testid="scope-row".*?</tr>', page, re.S)
        ]

    table = rows()
    default = f"{DEFAULT_STRICTNESS:.2f}"  # in force, and laid out beside the five steps
    assert [row[0] for row in table] == sorted({"0.00", "0.25", "0.50", "0.75", "1.00", default})
    assert curve.threshold(DEFAULT_STRICTNESS) == 0.38  # between 0.3 and 0.45: all right kept
    assert [row for row in table if row[-1] == "chosen"] == [
        (default, "0.38", "1.000", "0.667", "chosen")
    ]
    assert table[-1][3] == "1.000"  # the strictest setting catches every outsider
    response = client.post(
        "/admin/settings",
        data={"csrf_token": admin.csrf, "strictness": "0.9"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert [row[0] for row in rows() if row[-1] == "chosen"] == ["0.90"]


@pytest.mark.parametrize(
    "name",
    [
        "chatbot_model.json",  # a file of the version, not a chart of its report
        "report.json",
        "..%2Fchatbot_model.json",
        "%2E%2E%2Fchatbot_model.json",
        "missing.png",
    ],
)
def test_report_images_are_only_the_charts_the_report_lists(
    client: TestClient, admin: Staff, db_url: str, tmp_path: Path, name: str
) -> None:
    register(db_url, "ft-rep", fake_version(tmp_path, "ft-rep", ["returns"], ["returns"]))
    response = client.get(f"/admin/models/ft-rep/images/{name}")
    assert response.status_code == 404
    assert b"secret" not in response.content


def test_a_report_listing_a_path_cannot_reach_outside_its_folder(tmp_path: Path) -> None:
    (tmp_path / "report").mkdir()
    (tmp_path / "secret.png").write_bytes(PNG)
    (tmp_path / "report" / "ok.png").write_bytes(PNG)
    report = {"images": {"evil": "../secret.png", "ok": "ok.png"}}
    assert report_image(str(tmp_path), report, "../secret.png") is None
    assert report_image(str(tmp_path), report, "ok.png") == tmp_path / "report" / "ok.png"
    assert report_image(None, report, "ok.png") is None


# Comparing two versions


def test_comparing_lists_the_intents_that_got_worse_first(
    client: TestClient, admin: Staff, db_url: str, tmp_path: Path
) -> None:
    before = fake_version(
        tmp_path,
        "ft-a",
        ["returns", "returns", "delivery_time", "wood_care", "refund_time"],
        ["returns", "returns", "refund_time", "returns", "refund_time"],
    )
    after = fake_version(
        tmp_path,
        "ft-b",
        ["returns", "returns", "delivery_time", "wood_care", "contact"],
        ["refund_time", "returns", "delivery_time", "returns", "contact"],
    )
    register(db_url, "ft-a", before, metrics={"accuracy": 0.6, "macro_f1": 0.5, "ece": 0.2})
    register(db_url, "ft-b", after, metrics={"accuracy": 0.8, "macro_f1": 0.7, "ece": 0.3})
    page = client.get("/admin/models/compare?a=ft-a&b=ft-b").text
    order = re.findall(r'data-testid="compare-intent-row" data-intent="([^"]+)"', page)
    # returns dropped (0.8 -> 0.5), delivery_time rose (0 -> 1), wood_care stayed at 0,
    # refund_time and contact are each scored by one report only.
    assert order == ["returns", "delivery_time", "wood_care", "contact", "refund_time"]
    accuracy = re.search(r'<tr data-metric="accuracy">.*?</tr>', page, re.S).group(0)
    assert "0.600" in accuracy and "0.800" in accuracy and "change--better" in accuracy
    ece = re.search(r'<tr data-metric="ece">.*?</tr>', page, re.S).group(0)
    assert "+0.100" in ece and "change--worse" in ece  # a larger calibration error is worse


def test_comparing_with_the_base_version_says_it_has_no_report(
    client: TestClient, admin: Staff, db_url: str, tmp_path: Path
) -> None:
    register(db_url, "ft-a", fake_version(tmp_path, "ft-a", ["returns"], ["returns"]))
    page = client.get(f"/admin/models/compare?a={BASE}&b=ft-a").text
    assert 'data-testid="compare-missing-report"' in page
    assert f"{BASE} has no evaluation report." in page
    assert re.findall(r'data-intent="([^"]+)"', page) == ["returns"]


def test_comparing_without_two_versions_goes_back_to_the_models_page(
    client: TestClient, admin: Staff
) -> None:
    response = client.get(f"/admin/models/compare?a={BASE}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/models"


def test_intent_changes_are_ordered_worse_then_better_then_equal() -> None:
    a = {"per_intent": [{"intent": i, "f1": f} for i, f in [("x", 0.9), ("y", 0.5), ("z", 0.4)]]}
    b = {"per_intent": [{"intent": i, "f1": f} for i, f in [("x", 0.7), ("y", 0.8), ("z", 0.4)]]}
    b["per_intent"].append({"intent": "w", "f1": 0.1})
    changes = compare_intents(a, b)
    assert [(c.intent, c.difference is None) for c in changes] == [
        ("x", False),
        ("y", False),
        ("z", False),
        ("w", True),
    ]
    assert compare_intents(None, None) == []
