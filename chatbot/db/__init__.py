"""Persistence: typed SQLAlchemy models and the small functions the rest of the app calls."""
