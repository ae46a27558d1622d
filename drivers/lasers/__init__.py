"""Lasers: Coherent OBIS (serial) and Toptica DLC pro (DeCoF over TCP)."""

from drivers.lasers.coherent import CoherentOBIS
from drivers.lasers.toptica import TopticaDLCPro, decode_decof, encode_decof

__all__ = ["CoherentOBIS", "TopticaDLCPro", "decode_decof", "encode_decof"]
