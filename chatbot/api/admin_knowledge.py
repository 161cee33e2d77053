"""Admin console: the knowledge base pages."""

from fastapi import APIRouter

router = APIRouter()
