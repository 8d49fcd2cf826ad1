"""The Broker: request processors, metadata managers and the composition root (``app.py``)."""
