"""`chatbot users create|set-password|list` and `chatbot tokens create`: staff accounts."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chatbot.cli.base import UserError, accounts_session
from chatbot.config import Settings


def add_commands(commands: Any) -> None:
    users = commands.add_parser("users", help="staff and admin accounts")
    users_commands = users.add_subparsers(required=True, metavar="ACTION")
    create = users_commands.add_parser("create", help="create a staff or admin account")
    create.add_argument("email")
    create.add_argument("--role", choices=["staff", "admin"], required=True)
    create.add_argument("--name", help="display name")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create.set_defaults(handler=users_create)
    password = users_commands.add_parser("set-password", help="set an account's password")
    password.add_argument("email")
    password.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    password.set_defaults(handler=users_set_password)
    users_commands.add_parser("list", help="every account").set_defaults(handler=users_list)
    tokens = commands.add_parser("tokens", help="API tokens for integrations")
    tokens_commands = tokens.add_subparsers(required=True, metavar="ACTION")
    token = tokens_commands.add_parser("create", help="create an API token for an account")
    token.add_argument("email")
    token.add_argument("--name", required=True, help="what the token is for")
    token.set_defaults(handler=tokens_create)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    if not sys.stdin.isatty():
        raise UserError("no terminal to ask for the password: pass --password-stdin")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise UserError("the two passwords differ")
    return first


@contextmanager
def _refused_as_user_error() -> Iterator[None]:
    """An account change refused (weak password, bad email...) is the user's mistake."""
    from chatbot.db.accounts import AccountError

    try:
        yield
    except AccountError as exc:
        raise UserError(str(exc)) from exc


def _existing_user(session: Any, email: str) -> Any:
    from chatbot.db import accounts

    user = accounts.get_user_by_email(session, email)
    if user is None:
        raise UserError(f"email: no account for {accounts.normalise_email(email)}")
    return user


def users_create(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot import accounts as account_changes
    from chatbot.db import accounts

    with accounts_session(settings) as session:
        if accounts.get_user_by_email(session, args.email) is not None:
            raise UserError(f"email: an account for {accounts.normalise_email(args.email)} exists")
        with _refused_as_user_error():
            accounts.check_email(args.email)
            user = account_changes.create_user(
                session,
                None,
                args.email,
                _read_password(args.password_stdin),
                account_changes.role(args.role),
                name=args.name,
            )
        session.commit()
        print(f"created {args.role} account {user.email}")
    return 0


def users_set_password(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot import accounts as account_changes

    with accounts_session(settings) as session:
        user = _existing_user(session, args.email)
        with _refused_as_user_error():
            revoked = account_changes.set_password(
                session, None, user, _read_password(args.password_stdin)
            )
        session.commit()
    print(f"password set for {user.email}; signed out everywhere, {revoked} API token(s) revoked")
    return 0


def users_list(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot.db import accounts

    with accounts_session(settings) as session:
        for user in accounts.list_users(session):
            state = "" if user.is_active else " (disabled)"
            print(f"{user.email}\t{user.role.value}{state}")
    return 0


def tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot import accounts as account_changes

    with accounts_session(settings) as session:
        user = _existing_user(session, args.email)
        with _refused_as_user_error():
            _row, token = account_changes.create_token(session, None, user, args.name)
        session.commit()
    print(token)
    return 0
