"""The admin console: every page here is checked once for an admin account."""

from fastapi import APIRouter, Depends

from chatbot.api.principals import admin_user
from chatbot.console.admin import (
    analytics,
    audit,
    conversations,
    home,
    knowledge,
    models,
    settings,
    synonyms,
    training,
    unanswered,
    users,
    webhooks,
)

PAGES = (
    home,
    settings,
    users,
    audit,
    training,
    models,
    analytics,
    unanswered,
    conversations,
    webhooks,
)
UPLOADS = (knowledge, synonyms)  # their forms carry knowledge base files


def router(upload_limit: int) -> APIRouter:
    """The admin pages; the knowledge base's forms take bodies up to ``upload_limit`` bytes."""
    admin = APIRouter(include_in_schema=False, dependencies=[Depends(admin_user)])
    # The prefix goes on each include: the landing page is /admin, a path FastAPI takes only so.
    for pages in PAGES:
        admin.include_router(pages.router, prefix="/admin")
    for pages in UPLOADS:
        admin.include_router(pages.router, prefix="/admin", max_body_size=upload_limit)
    return admin
