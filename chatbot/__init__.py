"""Self-hosted customer-service chatbot."""

__version__ = "0.1.0"
