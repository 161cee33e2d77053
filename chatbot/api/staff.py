"""Staff console: transcripts (filters, search, export) and corrections."""

from fastapi import APIRouter

router = APIRouter()
