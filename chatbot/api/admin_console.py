"""Admin console: landing page, settings, users and the audit log."""

from fastapi import APIRouter

router = APIRouter()
