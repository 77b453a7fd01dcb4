"""The ISO 8583 layer: message specs as data, a codec over pyiso8583, framing, MAC and keys,
response codes and the profile's field helpers. No I/O here beyond reading frames from an
asyncio stream (``framing.read_frame``).

Modules: ``spec`` (load and validate specs), ``codec`` (encode/decode, mandatory fields),
``framing`` (length headers), ``mac`` and ``keys`` (X9.19, UnionPay ECB, SM4 MACs; 3DES,
check values, PIN blocks), ``response_codes`` (field 39 -> action class and catalog code),
``fields`` (fields 3, 48, 60, 61 and the UnionPay header).
"""
