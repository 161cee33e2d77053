"""The admin console in a real browser: settings that reach the chat page without a restart, the
language switch, user accounts and the audit log (see conftest.py for the live server)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from chatbot.api.i18n import catalog
from chatbot.db import app_settings
from chatbot.db.session import make_engine, make_session_factory, transaction
from tests.browser.conftest import PASSWORD, LiveServer, sign_in

# The live server loads the real model.
pytestmark = [pytest.mark.browser, pytest.mark.model]

NEW_TITLE = "Ask Harbor & Pine"
NEW_STAFF = "lee.browser@staff.example"
DESKTOP = (1280, 800)
PHONE = (390, 844)


def _restore_title(database_url: str, title: str) -> None:
    engine = make_engine(database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            defaults = app_settings.RuntimeSettings()  # the live server runs on the defaults
            app_settings.update(session, defaults, {"widget_title": title}, None)
    finally:
        engine.dispose()


@pytest.fixture
def original_title(live_server: LiveServer) -> Iterator[str]:
    """The widget title before the test; put back afterwards, since the server is shared."""
    title = app_settings.RuntimeSettings().widget_title
    yield title
    _restore_title(live_server.database_url, title)


def _shots(page: Page, screenshots, name: str, size: tuple[int, int]) -> None:
    kind = "desktop" if size == DESKTOP else "phone"
    page.screenshot(path=screenshots / f"{name}-{kind}.png", full_page=True)


def test_login_page_screenshots(new_page, screenshots) -> None:
    for size in (DESKTOP, PHONE):
        page = new_page(*size)
        page.goto("/login")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        _shots(page, screenshots, "login", size)


def test_an_admin_changes_settings_users_and_sees_the_audit_log(
    new_page, accounts_on_server, screenshots, original_title: str
) -> None:
    admin = new_page(*DESKTOP)
    sign_in(admin, accounts_on_server["admin"], next_path="/admin/settings")

    # The widget title changes on a running server: the chat page shows it at its next load.
    admin.get_by_label("Widget title").fill(NEW_TITLE)
    admin.get_by_role("button", name="Save settings").click()
    expect(admin.get_by_test_id("settings-saved")).to_be_visible()
    expect(admin.get_by_label("Widget title")).to_have_value(NEW_TITLE)
    _shots(admin, screenshots, "admin-settings", DESKTOP)
    customer = new_page(*DESKTOP)
    customer.goto("/chat")
    expect(customer).to_have_title(re.compile(re.escape(NEW_TITLE)))
    expect(customer.locator(".cb-title")).to_have_text(NEW_TITLE)  # the widget, from its config

    # The console in Chinese, then back.
    admin.get_by_role("link", name="中文").click()
    chinese = catalog("zh")
    navigation = admin.get_by_role("navigation", name=chinese["Console"])
    expect(navigation.get_by_role("link", name=chinese["Users"])).to_be_visible()
    expect(navigation.get_by_role("link", name=chinese["Audit log"])).to_be_visible()
    expect(admin.locator("html")).to_have_attribute("lang", "zh-CN")
    admin.get_by_role("link", name="English").click()
    expect(admin.get_by_role("heading", name="Settings")).to_be_visible()

    # A new staff member, disabled at once: they cannot sign in.
    admin.goto("/admin/users")
    form = admin.get_by_test_id("create-user")
    form.get_by_label("Email").fill(NEW_STAFF)
    form.get_by_label("Name").fill("Lee")
    form.get_by_label("Role").select_option("staff")
    form.get_by_label("Initial password").fill(PASSWORD)
    form.get_by_role("button", name="Create user").click()
    expect(admin.get_by_test_id("users-notice")).to_contain_text(NEW_STAFF)
    admin.get_by_role("button", name=f"Disable {NEW_STAFF}").click()
    expect(admin.get_by_test_id("users-notice")).to_contain_text("is disabled")
    row = admin.locator(f'[data-testid="user-row"][data-email="{NEW_STAFF}"]')
    expect(row).to_contain_text("disabled")
    _shots(admin, screenshots, "admin-users", DESKTOP)

    lee = new_page(*DESKTOP)
    lee.goto("/login")
    lee.get_by_label("Email").fill(NEW_STAFF)
    lee.get_by_label("Password").fill(PASSWORD)
    lee.get_by_role("button", name="Sign in").click()
    expect(lee.get_by_test_id("login-error")).to_have_text("Wrong email or password.")

    # The audit log lists all three changes, newest first.
    admin.goto("/admin/audit")
    actions = admin.get_by_test_id("audit-entry").evaluate_all(
        "rows => rows.map(row => row.dataset.action)"
    )
    assert actions[:3] == ["user.disable", "user.create", "settings.update"], actions
    expect(admin.get_by_test_id("audit-entry").nth(2)).to_contain_text(NEW_TITLE)
    _shots(admin, screenshots, "admin-audit", DESKTOP)

    # Put the title back through the page, as an admin would.
    admin.goto("/admin/settings")
    admin.get_by_label("Widget title").fill(original_title)
    admin.get_by_role("button", name="Save settings").click()
    expect(admin.get_by_test_id("settings-saved")).to_be_visible()
    customer.reload()
    expect(customer.locator(".cb-title")).to_have_text(original_title)


def test_admin_pages_on_a_phone(new_page, accounts_on_server, screenshots) -> None:
    page = new_page(*PHONE, is_mobile=True, has_touch=True)
    sign_in(page, accounts_on_server["admin"], next_path="/admin/settings")
    for name, path in (
        ("admin-home", "/admin"),
        ("admin-settings", "/admin/settings"),
        ("admin-users", "/admin/users"),
        ("admin-audit", "/admin/audit"),
    ):
        page.goto(path)
        expect(page.locator("h1")).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
        _shots(page, screenshots, name, PHONE)


def test_the_admin_home_and_a_chinese_page_on_a_desktop(
    new_page, accounts_on_server, screenshots
) -> None:
    page = new_page(*DESKTOP)
    sign_in(page, accounts_on_server["admin"], next_path="/admin")
    expect(page.locator("h1")).to_be_visible()
    _shots(page, screenshots, "admin-home", DESKTOP)
    chinese = new_page(*DESKTOP)
    sign_in(chinese, accounts_on_server["admin"], next_path="/admin/knowledge")
    chinese.goto("/language/zh?next=/admin/knowledge")  # the switch in the header
    expect(chinese.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(chinese.get_by_role("navigation").get_by_role("link", name="知识库")).to_be_visible()
    chinese.screenshot(path=screenshots / "admin-knowledge-list-zh-desktop.png", full_page=True)
