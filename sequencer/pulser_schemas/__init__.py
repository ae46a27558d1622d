"""JSON schemas of Pulser's abstract representation, as shipped by pulser-core 1.9.1.

Copied unchanged from ``pulser/json/abstract_repr/schemas/`` (pulser-core, Apache-2.0,
© Pulser Development Team) so that atomstack validates what it reads and writes without
pulser installed. ``tests/sequencer/test_pulser_json.py`` checks they still match the
installed pulser-core.
"""
