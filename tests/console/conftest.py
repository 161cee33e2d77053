"""The console's pages run on the same app, accounts and signed-in browsers as the JSON API's
tests: the fixtures live in tests/api/conftest.py (where the browser, CLI and scale-out tests
import them from too), and pytest only finds fixtures in a conftest.py above the test."""

from tests.api.conftest import *  # noqa: F403
