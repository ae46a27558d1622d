"""Calibration routines (scan → fit → result) and the versioned calibration store."""
