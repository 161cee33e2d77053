"""Passwords and secret tokens: argon2id hashes for passwords, SHA-256 digests for random tokens.

Random tokens (session cookies, API tokens, customer tokens) carry 256 bits of entropy, so a fast
digest is enough to keep them out of the database; passwords need a slow, salted hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 10
API_TOKEN_PREFIX = "cbt_"  # recognisable in logs and secret scanners

_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password needs at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > 1024:
        return "the password is longer than 1024 characters"
    return None


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def signed_token(secret_key: str) -> str:
    """A random token followed by its HMAC under ``secret_key``: ``NONCE.SIGNATURE``.

    Example:
        >>> token = signed_token("a long random secret key of the deployment")
        >>> signed_by(token, "a long random secret key of the deployment")
        True
        >>> signed_by(token, "another deployment's key"), signed_by("planted", "any key")
        (False, False)
    """
    nonce = new_token()
    return f"{nonce}.{_signature(secret_key, nonce)}"


def signed_by(token: str, secret_key: str) -> bool:
    """Whether ``token`` came from :func:`signed_token` with this key."""
    nonce, _, signature = token.rpartition(".")
    return bool(nonce) and same_secret(signature, _signature(secret_key, nonce))


def _signature(secret_key: str, nonce: str) -> str:
    return hmac.new(secret_key.encode(), nonce.encode(), hashlib.sha256).hexdigest()
