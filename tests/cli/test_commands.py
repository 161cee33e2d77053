"""Every `chatbot` command, run in-process: exit status, output and what it leaves stored."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select

from chatbot.cli import main
from chatbot.config import Settings, get_settings
from chatbot.db import accounts, app_settings
from chatbot.db.knowledge import import_intents, knowledge_revision, load_intents, load_synonyms
from chatbot.db.models import AuditEntry, Conversation, Message, UserRole
from chatbot.db.session import make_engine, make_session_factory, transaction
from chatbot.knowledge.spec import IntentSpec

FAQ = (
    "question,answer,intent,alternates\n"
    "How long does delivery take?,Standard delivery takes 3-5 working days.,delivery,"
    "When will my order arrive?|What are your shipping times?\n"
    "How do I return an item?,You can return anything within 30 days.,returns,"
    "Can I send something back?|What is your returns policy?\n"
)
KNOWLEDGE = [
    IntentSpec(
        "delivery",
        "Standard delivery takes 3-5 working days.",
        (
            "How long does delivery take?",
            "When will my order arrive?",
            "What are your shipping times?",
        ),
    ),
    IntentSpec(
        "returns",
        "You can return anything within 30 days.",
        ("How do I return an item?", "Can I send something back?", "What is your returns policy?"),
    ),
    IntentSpec(
        "opening_hours",
        "We are open 9:00-17:00 Monday to Saturday.",
        ("What are your opening hours?", "When is the shop open?", "Are you open on Sunday?"),
    ),
]


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No CHATBOT_* setting or .env file from the machine; settings read afresh per test."""
    for name in list(os.environ):
        if name.startswith("CHATBOT_") and not name.startswith("CHATBOT_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


Run = Callable[..., Result]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """Run `chatbot ARGV...` in-process; a traceback on stderr fails the test."""

    def run(*argv: str) -> Result:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def database(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CHATBOT_DATABASE_URL", db_url)
    return db_url


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def stored(url: str) -> tuple[list[IntentSpec], int]:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return load_intents(session), knowledge_revision(session)
    finally:
        engine.dispose()


def transcript_counts(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            conversations = session.scalar(select(func.count()).select_from(Conversation))
            messages = session.scalar(select(func.count()).select_from(Message))
            return conversations or 0, messages or 0
    finally:
        engine.dispose()


def test_db_upgrade_creates_a_fresh_database(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "new" / "fresh.db"
    monkeypatch.setenv("CHATBOT_DATABASE_URL", f"sqlite:///{path}")
    result = run("db", "upgrade")
    assert result.code == 0
    assert "up to date" in result.out
    engine = make_engine(f"sqlite:///{path}")
    try:
        assert {"conversations", "messages", "intents"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert run("db", "upgrade").code == 0  # again: nothing to do, no error


def test_db_upgrade_defaults_to_sqlite_under_the_data_dir(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path / "data"))
    assert run("db", "upgrade").code == 0
    assert (tmp_path / "data" / "chatbot.db").is_file()


def test_import_faq_adds_intents(run: Run, database: str, tmp_path: Path) -> None:
    path = write(tmp_path, "faq.csv", FAQ)
    result = run("import-faq", str(path))
    assert result.code == 0, result.err
    assert "2 intents were added: delivery, returns" in result.out
    intents, revision = stored(database)
    assert [(i.key, i.phrasings) for i in intents] == [(i.key, i.phrasings) for i in KNOWLEDGE[:2]]
    assert revision == 1

    again = run("import-faq", str(path))
    assert again.code == 0
    assert "0 intents were added" in again.out and "2 intents unchanged" in again.out
    assert stored(database)[1] == 1  # nothing changed: the revision stays


def test_import_faq_takes_the_labels_datasets_carry(
    run: Run, database: str, tmp_path: Path
) -> None:
    # Rows as BANKING77 labels them (its train.csv: text,category), made into FAQ rows.
    banking = [
        ("Why was my card payment reverted?", "reverted_card_payment?"),
        ("My payment came back to my account", "reverted_card_payment?"),
        ("When will my new card arrive?", "card_arrival"),
    ]
    rows = "".join(f"{label},{text},Answer for {label}\n" for text, label in banking)
    path = write(tmp_path, "banking77.csv", "intent,question,answer\n" + rows)
    result = run("import-faq", str(path))
    assert result.code == 0, result.err
    assert "2 intents were added: reverted_card_payment?, card_arrival" in result.out
    intents, _revision = stored(database)
    assert intents[0].phrasings == ("Why was my card payment reverted?", banking[1][0])


def test_import_faq_replace_removes_what_the_file_lacks(
    run: Run, database: str, tmp_path: Path
) -> None:
    assert run("import-faq", str(write(tmp_path, "faq.csv", FAQ))).code == 0
    only_delivery = write(tmp_path, "delivery.csv", FAQ.rsplit("\n", 2)[0] + "\n")
    result = run("import-faq", str(only_delivery), "--replace")
    assert result.code == 0
    assert "1 intent was removed: returns" in result.out
    assert [i.key for i in stored(database)[0]] == ["delivery"]


def test_import_faq_dry_run_writes_nothing(run: Run, database: str, tmp_path: Path) -> None:
    result = run("import-faq", str(write(tmp_path, "faq.csv", FAQ)), "--dry-run")
    assert result.code == 0
    assert "2 intents would be added: delivery, returns" in result.out
    assert stored(database) == ([], 0)


def test_knowledge_merge_languages(run: Run, database: str, tmp_path: Path) -> None:
    old_style = write(
        tmp_path,
        "faq.csv",
        "intent,question,answer,language,follow_ups\n"
        "returns,How do I return an item?,Within 30 days.,en,\n"
        "returns_zh,怎么退货？,30天内可以退货。,zh,delivery_zh\n"
        "delivery,How long does delivery take?,3-5 days.,en,\n"
        "delivery_zh,多久能送到？,3-5天。,zh,\n",
    )
    assert run("import-faq", str(old_style)).code == 0

    dry = run("knowledge", "merge-languages", "--dry-run")
    assert dry.code == 0, dry.err
    assert "would merge returns_zh into returns (zh: the answer and 1 phrasings)" in dry.out
    assert "2 pairs would merge" in dry.out
    assert len(stored(database)[0]) == 4

    result = run("knowledge", "merge-languages")
    assert result.code == 0, result.err
    assert "2 pairs merged" in result.out
    intents = {intent.key: intent for intent in stored(database)[0]}
    assert list(intents) == ["returns", "delivery"]
    assert intents["returns"].answer_in("zh") == ("30天内可以退货。", "zh")
    assert intents["returns"].follow_ups == ("delivery",)
    assert "0 pairs merged" in run("knowledge", "merge-languages").out


def test_import_faq_takes_synonym_rows(run: Run, database: str, tmp_path: Path) -> None:
    header, *rows = FAQ.splitlines()
    text = "\n".join([f"{header},synonyms", *(f"{row}," for row in rows)]) + "\n"
    path = write(tmp_path, "faq.csv", text + ",,,,退款 / 退钱 / money back\n")
    dry = run("import-faq", str(path), "--dry-run")
    assert dry.code == 0 and "synonyms would be replaced by the file's 1 groups" in dry.out
    result = run("import-faq", str(path))
    assert result.code == 0 and "synonyms were replaced by the file's 1 groups" in result.out
    engine = make_engine(database)
    try:
        with make_session_factory(engine)() as session:
            assert load_synonyms(session) == [("退款", "退钱", "money back")]
    finally:
        engine.dispose()

    bad = write(tmp_path, "bad.csv", text + ",,,,退款\n")
    refused = run("import-faq", str(bad))
    assert refused.code == 2
    assert "bad.csv, row 4, column 'synonyms': a synonym group needs at least two" in refused.err


def test_import_faq_if_empty(run: Run, database: str, tmp_path: Path) -> None:
    first = run("import-faq", str(write(tmp_path, "faq.csv", FAQ)), "--if-empty")
    assert first.code == 0
    assert "2 intents were added" in first.out
    before = stored(database)
    other = write(tmp_path, "other.csv", "question,answer\nDo you sell gift cards?,Yes.\n")
    second = run("import-faq", str(other), "--if-empty")
    assert second.code == 0
    assert "nothing imported" in second.out
    assert stored(database) == before


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("no_answer.csv", "question,intent\nHi?,x\n", "no_answer.csv, row 2, column 'answer'"),
        (
            "empty_question.csv",
            "question,answer,intent\nHow?,Fine.,a\n,Empty.,b\n",
            "empty_question.csv, row 3, column 'question'",
        ),
        (
            "follow_up.csv",
            "question,answer,intent,follow_ups\nHow?,Fine.,a,nowhere\n",
            "follow_up.csv, column 'follow_ups'",
        ),
        (
            "latin1.csv",
            "question,answer\nCafé?,Oui.\n".encode("cp1252"),
            "latin1.csv: unreadable encoding",
        ),
        ("faq.txt", "question,answer\nHow?,Fine.\n", "faq.txt: unsupported file type"),
    ],
)
def test_a_bad_file_is_refused_and_nothing_changes(
    run: Run, database: str, tmp_path: Path, name: str, content: str | bytes, expected: str
) -> None:
    assert run("import-faq", str(write(tmp_path, "faq.csv", FAQ))).code == 0
    before = stored(database)
    result = run("import-faq", str(write(tmp_path, name, content)), "--replace")
    assert result.code == 2
    assert result.err.startswith("chatbot: ")
    assert expected in result.err
    assert result.out == ""
    assert stored(database) == before


def test_a_missing_file(run: Run, database: str, tmp_path: Path) -> None:
    result = run("import-faq", str(tmp_path / "absent.csv"))
    assert result.code == 2
    assert "absent.csv: no such file" in result.err
    assert run("evaluate", str(tmp_path / "absent.csv")).code == 2


@pytest.mark.parametrize(
    "argv", [["import-faq"], ["frobnicate"], [], ["db"], ["ask"], ["import-faq", "a", "--nope"]]
)
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "usage: chatbot" in err
    assert "Traceback" not in err


def test_an_invalid_setting_exits_2_naming_the_variable(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "never.db"
    monkeypatch.setenv("CHATBOT_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("CHATBOT_ANSWER_THRESHOLD", "2")
    result = run("db", "upgrade")
    assert result.code == 2
    assert "CHATBOT_ANSWER_THRESHOLD" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not path.exists()  # nothing was done


def test_inconsistent_thresholds_name_the_variables(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATBOT_ANSWER_THRESHOLD", "0.5")
    monkeypatch.setenv("CHATBOT_CLARIFY_THRESHOLD", "0.9")
    result = run("db", "upgrade")
    assert result.code == 2
    assert "CHATBOT_CLARIFY_THRESHOLD" in result.err
    assert "CHATBOT_SETTINGS" not in result.err


def test_ask_refuses_an_empty_message(run: Run, database: str) -> None:
    result = run("ask", "   ")
    assert result.code == 2
    assert "TEXT: the message is empty" in result.err


def test_evaluate_refuses_a_bad_labelled_file(run: Run, database: str, tmp_path: Path) -> None:
    path = write(tmp_path, "labels.csv", "message,intent\nHi,greet\n")
    result = run("evaluate", str(path), "--json")
    assert result.code == 2
    assert "labels.csv, row 1, column 'text'" in result.err
    assert result.out == ""


# Commands below load the real packaged encoder (a few seconds the first time, then cached files).

LABELLED = (
    "text,intent\n"
    "how many days does shipping take,delivery\n"
    "I want to send back the item I bought,returns\n"
    "what time do you open,opening_hours\n"
    "what is the capital of France,oos\n"
)


@pytest.fixture(scope="module")
def knowledge_db(migrated_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One database with a tiny knowledge base for every real-model command in this module."""
    path = tmp_path_factory.mktemp("cli-model") / "chatbot.db"
    shutil.copy(migrated_sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    try:
        with transaction(make_session_factory(engine)) as session:
            import_intents(session, KNOWLEDGE, replace=True)
    finally:
        engine.dispose()
    return url


@pytest.mark.model
def test_ask_answers_in_json_and_stores_nothing(
    run: Run, knowledge_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATBOT_DATABASE_URL", knowledge_db)
    result = run("ask", "how long does the delivery take", "--json")
    assert result.code == 0, result.err
    answer = json.loads(result.out)
    assert answer["answer"] == "Standard delivery takes 3-5 working days."
    assert answer["intent"] == "delivery"
    assert 0.55 <= answer["confidence"] <= 1
    assert answer["handoff"] is False
    assert answer["suggestions"] == []
    assert answer["model"].startswith("base-")

    result = run("ask", "what is the capital of France", "--json")
    assert result.code == 0, result.err
    fallback = json.loads(result.out)
    assert 0 <= fallback["confidence"] < 0.3
    assert fallback["handoff"] is False
    assert fallback["suggestions"] == [{"intent": "human", "question": "Talk to a person"}]

    assert transcript_counts(knowledge_db) == (0, 0)


@pytest.mark.model
def test_ask_says_the_admins_texts_as_a_customer_would_get_them(
    run: Run, knowledge_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(knowledge_db)
    try:
        with transaction(make_session_factory(engine)) as session:
            app_settings.update(
                session,
                app_settings.RuntimeSettings.from_settings(Settings()),
                {"fallback_en": "That one is beyond me.", "greeting_en": "Ahoy!"},
                "ada@admin.example",
            )
    finally:
        engine.dispose()
    monkeypatch.setenv("CHATBOT_DATABASE_URL", knowledge_db)
    result = run("ask", "what is the capital of France", "--json")
    assert result.code == 0, result.err
    lost = json.loads(result.out)
    assert (lost["answer"], lost["action"]) == ("That one is beyond me.", "fallback")
    hello = json.loads(run("ask", "hello", "--json").out)
    assert (hello["answer"], hello["action"]) == ("Ahoy!", "smalltalk")
    assert transcript_counts(knowledge_db) == (0, 0)


@pytest.mark.model
def test_evaluate_prints_the_metrics(
    run: Run, knowledge_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATBOT_DATABASE_URL", knowledge_db)
    path = write(tmp_path, "labelled.csv", LABELLED)
    result = run("evaluate", str(path), "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["n"] == 4
    assert report["model"].startswith("base-")
    # Close paraphrases and an obviously unrelated question: the base model gets them all.
    assert (report["accuracy"], report["macro_f1"]) == (1.0, 1.0)
    assert (report["oos_precision"], report["oos_recall"]) == (1.0, 1.0)
    assert report["latency_ms_p50"] > 0
    assert report["by_language"] == {
        "en": {
            "n": 4,
            "n_in_scope": 3,
            "n_out_of_scope": 1,
            "accuracy": 1.0,
            "oos_recall": 1.0,
            "in_scope_answered": 1.0,
        }
    }
    text = run("evaluate", str(path))
    assert text.code == 0, text.err
    assert "          accuracy: 1.0000\n" in text.out
    assert (
        "       language en: n 4, n_in_scope 3, n_out_of_scope 1, accuracy 1.0000, "
        "oos_recall 1.0000, in_scope_answered 1.0000\n"
    ) in text.out

    unknown = run("evaluate", str(path), "--model", "nope")
    assert unknown.code == 2
    assert "--model: unknown model version 'nope'" in unknown.err
    assert transcript_counts(knowledge_db) == (0, 0)


@pytest.mark.model
def test_evaluate_on_an_empty_knowledge_base(run: Run, database: str, tmp_path: Path) -> None:
    result = run("evaluate", str(write(tmp_path, "labelled.csv", LABELLED)), "--json")
    assert result.code == 2
    assert "the knowledge base is empty" in result.err
    assert "import-faq" in result.err
    assert result.out == ""


@pytest.mark.model
def test_ask_on_a_database_without_schema_exits_1(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = run("ask", "hello")
    assert result.code == 1
    assert "chatbot db upgrade" in result.err


# Accounts

PASSWORD = "correct horse battery"


def with_stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def check_password(url: str, email: str, password: str) -> UserRole | None:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            user = accounts.authenticate(session, email, password, "test")
            return user.role if user else None
    finally:
        engine.dispose()


def test_users_create_makes_an_account_that_can_sign_in(
    run: Run, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_stdin(monkeypatch, PASSWORD + "\n")
    result = run("users", "create", "Ada@Example.com", "--role", "admin", "--password-stdin")
    assert result.code == 0, result.err
    assert "ada@example.com" in result.out
    assert check_password(database, "ada@example.com", PASSWORD) is UserRole.ADMIN
    listed = run("users", "list")
    assert listed.out.strip() == "ada@example.com\tadmin"
    engine = make_engine(database)
    with make_session_factory(engine)() as session:
        entry = session.query(AuditEntry).one()
        assert (entry.actor, entry.action, entry.target) == (None, "user.create", "ada@example.com")
    engine.dispose()


@pytest.mark.parametrize(
    ("argv", "stdin", "reason"),
    [
        (["not-an-email", "--role", "staff"], PASSWORD, "email: 'not-an-email' is not an email"),
        (["sam@example.com", "--role", "staff"], "short", "password: the password needs"),
    ],
)
def test_users_create_refuses_bad_input_with_status_2(
    run: Run,
    database: str,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    stdin: str,
    reason: str,
) -> None:
    with_stdin(monkeypatch, stdin + "\n")
    result = run("users", "create", *argv, "--password-stdin")
    assert result.code == 2
    assert reason in result.err
    assert run("users", "list").out == ""


def test_a_second_account_for_an_email_is_refused(
    run: Run, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_stdin(monkeypatch, PASSWORD + "\n")
    run("users", "create", "sam@example.com", "--role", "staff", "--password-stdin")
    with_stdin(monkeypatch, "another password here\n")
    result = run("users", "create", "SAM@example.com", "--role", "admin", "--password-stdin")
    assert result.code == 2 and "exists" in result.err
    assert check_password(database, "sam@example.com", PASSWORD) is UserRole.STAFF


def test_without_a_terminal_the_password_must_come_from_stdin(
    run: Run, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_stdin(monkeypatch, "")
    result = run("users", "create", "sam@example.com", "--role", "staff")
    assert result.code == 2 and "--password-stdin" in result.err


def test_set_password_and_tokens_create(
    run: Run, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_stdin(monkeypatch, PASSWORD + "\n")
    run("users", "create", "sam@example.com", "--role", "staff", "--password-stdin")
    old_token = run("tokens", "create", "sam@example.com", "--name", "old").out.strip()
    with_stdin(monkeypatch, "a different passphrase\n")
    reset = run("users", "set-password", "sam@example.com", "--password-stdin")
    assert reset.code == 0 and "1 API token(s) revoked" in reset.out
    assert check_password(database, "sam@example.com", "a different passphrase")
    token = run("tokens", "create", "sam@example.com", "--name", "crm").out.strip()
    assert token.startswith("cbt_")
    engine = make_engine(database)
    with make_session_factory(engine)() as session:
        user = accounts.user_for_api_token(session, token)
        assert user is not None and user.email == "sam@example.com"
        assert accounts.user_for_api_token(session, old_token) is None  # signed out everywhere
    engine.dispose()
    assert run("tokens", "create", "nobody@example.com", "--name", "x").code == 2


def test_users_on_a_database_without_schema_exits_1(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = run("users", "list")
    assert result.code == 1 and "chatbot db upgrade" in result.err


def test_conversations_erase_deletes_it_and_is_audited(run: Run, database: str) -> None:
    from chatbot.db import conversations as store
    from chatbot.db.models import Role

    engine = make_engine(database)
    with transaction(make_session_factory(engine)) as session:
        conversation, _token = store.start_conversation(session)
        store.add_message(session, conversation, Role.CUSTOMER, "my address is 1 Quiet Lane")
        conversation_id = conversation.id
    erased = run("conversations", "erase", conversation_id)
    assert erased.code == 0 and "1 messages" in erased.out
    with make_session_factory(engine)() as session:
        assert session.get(Conversation, conversation_id) is None
        actions = session.scalars(select(AuditEntry.action)).all()
        assert "conversation.erase" in actions
    engine.dispose()
    missing = run("conversations", "erase", conversation_id)
    assert missing.code == 2 and f"no conversation {conversation_id}" in missing.err


def test_retention_run_deletes_what_is_too_old(
    run: Run, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from chatbot.db import conversations as store
    from chatbot.db.base import utcnow

    monkeypatch.setenv("CHATBOT_CONVERSATION_RETENTION_DAYS", "30")
    engine = make_engine(database)
    with transaction(make_session_factory(engine)) as session:
        old, _token = store.start_conversation(session)
        old.updated_at = utcnow() - timedelta(days=31)
        store.start_conversation(session)
    result = run("retention", "run")
    assert result.code == 0 and "1 conversations" in result.out
    with make_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Conversation)) == 1
    engine.dispose()


def test_retention_run_closes_abandoned_conversations(
    run: Run, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from chatbot.db import conversations as store
    from chatbot.db.base import utcnow
    from chatbot.db.models import ConversationStatus

    monkeypatch.setenv("CHATBOT_CONVERSATION_IDLE_MINUTES", "45")
    engine = make_engine(database)
    with transaction(make_session_factory(engine)) as session:
        idle, _token = store.start_conversation(session)
        store.set_status(session, idle, ConversationStatus.WAITING)
        idle.updated_at = utcnow() - timedelta(minutes=46)
        recent, _token = store.start_conversation(session)
        idle_id, recent_id = idle.id, recent.id
    result = run("retention", "run")
    assert result.code == 0 and "1 idle conversations closed" in result.out
    with make_session_factory(engine)() as session:
        statuses = {c.id: c.status for c in session.scalars(select(Conversation))}
    assert statuses == {idle_id: ConversationStatus.CLOSED, recent_id: ConversationStatus.BOT}
    engine.dispose()


def test_serve_refuses_unsafe_production_settings(
    run: Run, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATBOT_ENV", "production")
    monkeypatch.setenv("CHATBOT_SECRET_KEY", "too-short")
    result = run("serve", "--port", "1")  # refused before anything listens
    assert result.code == 2
    assert "CHATBOT_SECRET_KEY has 9 characters" in result.err
    assert "CHATBOT_TRUSTED_PROXIES" in result.err and "CHATBOT_METRICS_PUBLIC" in result.err


def test_cli_imports_and_tokens_are_in_the_audit_log(
    run: Run, database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faq = write(tmp_path, "faq.csv", "question,answer\nOpening hours?,9 to 5.\n")
    assert run("import-faq", str(faq)).code == 0
    assert run("import-faq", str(faq)).code == 0  # nothing changed: nothing to record
    with_stdin(monkeypatch, PASSWORD + "\n")
    run("users", "create", "sam@example.com", "--role", "staff", "--password-stdin")
    token = run("tokens", "create", "sam@example.com", "--name", "crm").out.strip()
    engine = make_engine(database)
    with make_session_factory(engine)() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    engine.dispose()
    imports = [e for e in entries if e.action == "knowledge.import"]
    assert [(e.actor, e.target, e.after["added"]) for e in imports] == [
        (None, "faq.csv", ["opening_hours"])
    ]
    [created] = [e for e in entries if e.action == "token.create"]
    assert (created.target, created.after["user"]) == ("crm", "sam@example.com")
    assert token not in str(created.after)


def audit_entries(database: str, action: str) -> list[AuditEntry]:
    engine = make_engine(database)
    with make_session_factory(engine)() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        entries = list(session.scalars(query))
    engine.dispose()
    return entries


def test_cli_password_changes_are_in_the_audit_log(
    run: Run, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_stdin(monkeypatch, PASSWORD + "\n")
    run("users", "create", "sam@example.com", "--role", "staff", "--password-stdin")
    run("tokens", "create", "sam@example.com", "--name", "crm")
    with_stdin(monkeypatch, "a different passphrase\n")
    assert run("users", "set-password", "nobody@example.com", "--password-stdin").code == 2
    with_stdin(monkeypatch, "a different passphrase\n")
    assert run("users", "set-password", "sam@example.com", "--password-stdin").code == 0

    [entry] = audit_entries(database, "user.password")  # the refused one left none
    assert (entry.actor, entry.target) == (None, "sam@example.com")
    assert entry.after == {"sessions_ended": True, "tokens_revoked": 1}
    assert "passphrase" not in str(entry.before) + str(entry.after)


def test_cli_language_merges_are_in_the_audit_log(run: Run, database: str, tmp_path: Path) -> None:
    old_style = write(
        tmp_path,
        "faq.csv",
        "intent,question,answer,language\n"
        "returns,How do I return an item?,Within 30 days.,en\n"
        "returns_zh,怎么退货？,30天内可以退货。,zh\n",
    )
    assert run("import-faq", str(old_style)).code == 0
    assert run("knowledge", "merge-languages", "--dry-run").code == 0
    assert audit_entries(database, "knowledge.merge_languages") == []  # a dry run changes nothing

    assert run("knowledge", "merge-languages").code == 0
    assert run("knowledge", "merge-languages").code == 0  # nothing left to merge: no entry

    [entry] = audit_entries(database, "knowledge.merge_languages")
    assert (entry.actor, entry.after) == (None, {"merged": {"returns_zh": "returns"}})
