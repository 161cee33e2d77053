"""The staff and admin consoles: server-rendered HTML pages (the JSON API is chatbot/api/).

Files are named after the URLs they serve; each area's router is guarded as a whole: ``staff/``
for any signed-in person, ``admin/`` for admins, ``account`` for its owner; signing in is open.
"""

from fastapi import APIRouter

from chatbot.console import account, admin, sign_in, staff


def router(upload_limit: int) -> APIRouter:
    """Every console page; knowledge base files sent through its forms may be ``upload_limit``
    bytes (the settings decide, so the router is built for each app)."""
    console = APIRouter(include_in_schema=False)
    console.include_router(sign_in.router)
    console.include_router(account.router)
    console.include_router(staff.router)
    console.include_router(admin.router(upload_limit))
    return console
