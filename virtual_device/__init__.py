"""The virtual device: physics models and emulated instruments on loopback."""
