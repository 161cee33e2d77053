"""The live page: the queue of conversations waiting for a person, and the one being talked in.

The page is a shell that static/live.js fills from the takeover API (chatbot/api/takeover.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from chatbot.api.i18n import request_language, translator
from chatbot.api.principals import StaffUser
from chatbot.console.views import render

router = APIRouter()


def _page_strings(request: Request) -> dict[str, str]:
    _ = translator(request_language(request))
    return {
        "waiting": _("Waiting"),
        "with_staff": _("With a person"),
        "bot": _("With the bot"),
        "closed": _("Closed"),
        "customer": _("Customer"),
        "bot_role": _("Bot"),
        "staff": _("Staff"),
        "system": _("Notice"),
        "you": _("you"),
        "nobody": _("nobody"),
        "empty_queue": _(
            "Nobody is waiting. Conversations appear here when they ask for a person."
        ),
        "pick": _("Choose a conversation from the queue."),
        "customer_typing": _("The customer is typing…"),
        "held_by": _("Held by {name}"),
        "waiting_for": _("waiting {time}"),
        "take_over": _("{name} holds this conversation. Take it over?"),
        "no_messages": _("No messages yet."),
        "offline": _("Reconnecting…"),
        "error": _("Something went wrong: {detail}"),
        "rated": _("Customer rating: {n}/5"),
        "minutes": _("{n} min"),
        "seconds": _("{n} s"),
        "hours": _("{n} h"),
        "more": _("{n} more in the queue"),
        "show_more": _("Show more"),
        "on_duty": _("{n} available now"),
        "offline_request": _("Offline: reply by e-mail"),
        "notify_title": _("A customer is waiting"),
    }


@router.get("/live", response_class=HTMLResponse)
def live_page(
    request: Request, principal: StaffUser, conversation: str | None = None
) -> HTMLResponse:
    """The live queue and the conversation a staff member is talking in."""
    return render(
        request,
        "console/live.html",
        principal,
        strings=_page_strings(request),
        selected=conversation or "",
        max_chars=request.app.state.settings.max_message_chars,
    )
