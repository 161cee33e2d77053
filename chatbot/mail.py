"""E-mail through the configured SMTP server (the standard library's smtplib), sent from jobs.

Two jobs, run by the job queue (chatbot/jobs.py) so a slow mail server never holds a request:
a staff reply to an offline request goes to the customer's address; a conversation left waiting
is announced to the staff on duty. Jobs take ids, read the rows themselves, and do nothing when
what they were about has gone (an erased conversation) or e-mail is not configured.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from functools import partial

from sqlalchemy.orm import Session

from chatbot.config import Settings
from chatbot.conversation import builtins
from chatbot.db import app_settings, presence
from chatbot.db import conversations as store
from chatbot.db.app_settings import RuntimeSettings
from chatbot.db.base import utcnow
from chatbot.db.models import Role
from chatbot.db.session import Database
from chatbot.jobs import JobContext, JobRunner

log = logging.getLogger(__name__)

REPLY_SUBJECT = {"en": "Reply from {company}", "zh": "{company} 客服回复"}
REPLY_BODY = {
    "en": "Hello,\n\n{name} from {company} replied to your message:\n\n{text}\n\n"
    "The reply is also in the chat on our site, where you can write back.\n",
    "zh": "您好！\n\n{company} 的 {name} 回复了您的留言：\n\n{text}\n\n"
    "您也可以在我们网站的在线客服中查看回复并继续留言。\n",
}


class MailNotConfigured(RuntimeError):
    """CHATBOT_SMTP_HOST is empty."""


def sender(settings: Settings, company: str) -> str:
    """The From header: CHATBOT_SMTP_SENDER, else the SMTP account under the company's name."""
    if settings.smtp_sender:
        return settings.smtp_sender
    return formataddr((company, settings.smtp_username or "chatbot@localhost"))


def send(settings: Settings, message: EmailMessage, *, timeout: float = 10.0) -> None:
    """Deliver ``message`` through the configured server (TLS, STARTTLS or plain)."""
    if not settings.smtp_host:
        raise MailNotConfigured("no mail server: set CHATBOT_SMTP_HOST to send e-mail")
    host, port = settings.smtp_host, settings.smtp_port
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.smtp_tls == "tls":
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    with smtp:
        if settings.smtp_tls == "starttls":
            smtp.starttls(context=context)
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        smtp.send_message(message)


def _runtime(session: Session, settings: Settings) -> RuntimeSettings:
    return app_settings.effective(session, RuntimeSettings.from_settings(settings))


def reply_email(settings: Settings, session: Session, message_id: int) -> EmailMessage | None:
    """The e-mail carrying staff message ``message_id`` to its conversation's customer; None
    when there is nothing to send (no such message, not a staff one, no address)."""
    message = store.get_message(session, message_id)
    if message is None or message.role is not Role.STAFF:
        return None
    conversation = message.conversation
    if not conversation.contact_email:
        return None
    language = (conversation.language or "en").lower()
    company = _runtime(session, settings).name("company_name", language)
    author = store.get_user(session, message.author_id)
    # The customer sees a staff member's name, never their address (as in the chat).
    name = (author.name or author.email.split("@", 1)[0]) if author else company
    email = EmailMessage()
    email["Subject"] = builtins.localized(REPLY_SUBJECT, language).format(company=company)
    email["From"] = sender(settings, company)
    email["To"] = conversation.contact_email
    email["Message-ID"] = make_msgid(idstring=f"reply-{message.id}")
    body = builtins.localized(REPLY_BODY, language)
    email.set_content(body.format(name=name, company=company, text=message.text))
    return email


def email_staff_reply(context: JobContext, *, message_id: int) -> None:
    """Job: e-mail a staff reply to the customer who left an offline request."""
    with context.sessions() as session:
        email = reply_email(context.settings, session, message_id)
    if email is None:
        return
    if not context.settings.smtp_host:
        log.warning("staff reply %s not e-mailed: CHATBOT_SMTP_HOST is not set", message_id)
        return
    send(context.settings, email)
    log.info("staff reply %s e-mailed to the customer", message_id)


QUEUE_SUBJECT = "A customer is waiting ({language})"
QUEUE_BODY = (
    "A conversation has been waiting for a person since {since} (UTC).\n\n"
    "Last message: {text}\n\nOpen the live queue: /staff/live?conversation={id}\n"
)


def email_staff_on_duty(context: JobContext, *, conversation_id: str) -> None:
    """Job: tell the staff on duty that a conversation still waits for a person."""
    settings = context.settings
    with context.sessions() as session:
        conversation = store.get_conversation(session, conversation_id)
        if conversation is None or not settings.smtp_host:
            return
        recipients = [user.email for user in presence.available_staff(session)]
        last = store.last_messages(session, [conversation.id]).get(conversation.id)
        company = _runtime(session, settings).company_name
        since = conversation.offline_since or conversation.handed_off_at or conversation.updated_at
        email = EmailMessage()
        email["Subject"] = QUEUE_SUBJECT.format(language=conversation.language or "en")
        email["From"] = sender(settings, company)
        email["To"] = ", ".join(recipients)
        email.set_content(
            QUEUE_BODY.format(
                since=f"{since:%Y-%m-%d %H:%M}",
                text=last.text[:500] if last is not None else "",
                id=conversation.id,
            )
        )
    if recipients:
        send(settings, email)
        log.info("staff on duty e-mailed about conversation %s", conversation_id)


QUEUE_CHECK_S = 5.0  # how often a replica looks for conversations waiting past the delay


async def watch_queue(db: Database, settings: Settings, jobs: JobRunner) -> None:
    """With CHATBOT_QUEUE_EMAIL: e-mail the staff on duty about each conversation that has
    waited CHATBOT_QUEUE_EMAIL_DELAY_SECONDS for a person, once per wait (runs in every
    replica; each conversation is claimed by one)."""
    while True:
        await asyncio.sleep(QUEUE_CHECK_S)
        if not (settings.queue_email and settings.smtp_host):
            continue
        delay = timedelta(seconds=settings.queue_email_delay_seconds)
        claim = partial(store.claim_overdue, waiting_since=utcnow() - delay)
        try:
            due = await db.write(claim)
            for conversation_id in due:
                jobs.submit(email_staff_on_duty, conversation_id=conversation_id)
        except Exception:
            log.warning("queue e-mails: check failed; trying again later", exc_info=True)
