"""Lab configuration, stations, shots and scans, run files, telemetry and the command line."""
