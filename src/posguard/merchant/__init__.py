"""The merchant side: onboarding documents, fee-rate transparency, brand ranking, regulation.

Everything here is pure functions over plain typed records plus data files under
``data/``; the fleet service mounts :mod:`posguard.merchant.api` and the CLI exposes
``posguard merchant ...``. Personal data (ID numbers, bank accounts, names) only ever
leaves :mod:`posguard.merchant.onboarding` masked or sealed (AES-GCM).
"""
