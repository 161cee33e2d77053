"""Live takeover: the queue of conversations waiting for a person; claim, reply, hand back."""

from fastapi import APIRouter

router = APIRouter()
