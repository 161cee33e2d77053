"""The knowledge base as plain data: reading FAQ files, validating them, and diffing versions.

Free of web and database imports; ``chatbot.db.knowledge`` stores what this package produces.
"""
