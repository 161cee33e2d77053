import threading
import time

from sqlalchemy.orm import Session

from chatbot.conversation.active_model import ActiveModel
from chatbot.db import revisions
from chatbot.db.knowledge import import_intents
from chatbot.db.model_versions import activate, get_version, register_version
from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.engine import IntentEngine
from tests.fakes import HashingEncoder

HOURS = IntentSpec("opening_hours", "9 to 5.", ("When are you open?", "Opening hours"))
RETURNS = IntentSpec("returns", "Within 30 days.", ("How do I return an item?",))


def test_the_model_follows_the_knowledge_base_by_its_revision(db_session: Session) -> None:
    import_intents(db_session, [HOURS], replace=True)
    model = ActiveModel(IntentEngine(HashingEncoder(), version="v-test"))
    assert model.behind(revisions.current(db_session))
    model.follow(db_session)
    assert not model.behind(revisions.current(db_session))

    import_intents(db_session, [HOURS, RETURNS], replace=True)
    assert model.behind(revisions.current(db_session))
    model.follow(db_session)
    assert model.engine.intent("returns") is not None
    [(engine, prediction)] = model.predict(["How do I return an item?"])
    assert engine is model.engine and prediction.intent == "returns"


def test_without_a_loader_another_active_version_is_not_followed(db_session: Session) -> None:
    import_intents(db_session, [HOURS], replace=True)
    model = ActiveModel(IntentEngine(HashingEncoder(), version="v-test"))
    model.follow(db_session)
    current = revisions.current(db_session)
    other = revisions.Revisions(current.knowledge, current.settings, "ft-other")
    assert not model.behind(other)


def _activate(session: Session, version: str) -> None:
    row = register_version(
        session, version=version, kind="fine-tuned", base_model="packaged", path=f"/m/{version}"
    )
    activate(session, row)


def test_a_newly_active_version_is_loaded_and_a_broken_one_not_retried(db_session: Session) -> None:
    import_intents(db_session, [HOURS], replace=True)
    loads: list[str] = []

    def load(version: str, session: Session | None) -> IntentEngine:
        loads.append(version)
        if version == "ft-broken":
            raise OSError("no weights")
        engine = IntentEngine(HashingEncoder(), version=version)
        assert session is not None
        engine.load_knowledge([HOURS], revisions.current(session).knowledge, [])
        return engine

    model = ActiveModel(IntentEngine(HashingEncoder(), version="v-1"), load)
    model.follow(db_session)
    _activate(db_session, "ft-2")
    assert model.behind(revisions.current(db_session))
    model.follow(db_session, wait=True)
    assert model.engine.version == "ft-2"
    assert not model.behind(revisions.current(db_session))

    _activate(db_session, "ft-broken")
    model.follow(db_session, wait=True)
    assert model.engine.version == "ft-2"  # still answering with the one that loaded
    assert not model.behind(revisions.current(db_session))  # not retried at every message
    model.follow(db_session, wait=True)
    assert loads == ["ft-2", "ft-broken"]


def test_a_version_rolled_back_while_it_loaded_does_not_take_over(db_session: Session) -> None:
    """An admin activates ft-2 and rolls back to v-1 before ft-2 has loaded: customers must not
    be answered by ft-2 when its load ends."""
    import_intents(db_session, [HOURS], replace=True)
    _activate(db_session, "v-1")
    loading = threading.Event()
    release = threading.Event()

    def load(version: str, session: Session | None) -> IntentEngine:
        loading.set()
        release.wait(timeout=10)
        return IntentEngine(HashingEncoder(), version=version)

    model = ActiveModel(IntentEngine(HashingEncoder(), version="v-1"), load)
    model.follow(db_session)
    _activate(db_session, "ft-2")
    model.follow(db_session)  # ft-2 loads in the background
    assert loading.wait(timeout=10)
    rolled_back = get_version(db_session, "v-1")
    assert rolled_back is not None
    activate(db_session, rolled_back)  # rolled back meanwhile
    assert model.behind(revisions.current(db_session))
    model.follow(db_session)
    release.set()
    deadline = time.monotonic() + 10
    while model._loading is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert model.engine.version == "v-1"
    assert not model.behind(revisions.current(db_session))
