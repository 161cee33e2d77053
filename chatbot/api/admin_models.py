"""Admin console: training and model versions pages."""

from fastapi import APIRouter

router = APIRouter()
