"""The training page: start a fine-tuning run and watch it live (static/training.js, over the
training API in chatbot/api/training.py).
"""

from __future__ import annotations

import torch
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from chatbot.api.i18n import request_language, translator
from chatbot.api.principals import AdminUser
from chatbot.console.views import render

router = APIRouter()
RUN_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


@router.get("/training", response_class=HTMLResponse)
def training_page(request: Request, principal: AdminUser) -> HTMLResponse:
    """Start a fine-tuning run and watch it live; earlier runs below."""
    _ = translator(request_language(request))
    strings = {
        **{word: _(word) for word in RUN_STATUSES},
        "no_runs": _("No training run yet."),
        "start_failed": _("Could not start training:"),
        "cancel_failed": _("Could not cancel:"),
        "load_failed": _("Could not load the training runs:"),
        "step_of": _("Step {step} of {total}"),
        "epoch": _("Epoch {epoch}"),
        "loss": _("Loss {loss}"),
        "elapsed": _("Elapsed {time}"),
        "eta": _("ETA {time}"),
        "device": _("Device {device}"),
        "view_report": _("View the report of {version}"),
        "no_losses": _("The loss curve appears after the first steps."),
        "run": _("Run {id}"),
    }
    return render(
        request,
        "console/training.html",
        principal,
        cuda_available=torch.cuda.is_available(),
        strings=strings,
    )
