"""`python -m chatbot.cli`, as the installed `chatbot` command."""

from chatbot.cli import main

raise SystemExit(main())
