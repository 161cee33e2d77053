"""The staff console: any signed-in staff member or admin, checked once for every page here."""

from fastapi import APIRouter, Depends

from chatbot.api.principals import staff_user
from chatbot.console.staff import canned, live, transcripts

router = APIRouter(include_in_schema=False, dependencies=[Depends(staff_user)])
# The prefix goes on each include: the list itself is /staff, a path FastAPI takes only that way.
router.include_router(transcripts.router, prefix="/staff")
router.include_router(live.router, prefix="/staff")
router.include_router(canned.router, prefix="/staff")
