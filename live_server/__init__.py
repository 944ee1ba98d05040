"""Live companion server: the real-time side of live-commerce rooms that feed physical stores."""

__version__ = "0.1.0"
