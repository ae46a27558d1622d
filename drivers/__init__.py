"""Instrument drivers over VISA (pyvisa + pyvisa-py) and serial (pyserial)."""
