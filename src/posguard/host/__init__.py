"""Acquirer host simulator: an ISO 8583 host with a real ledger and issuer rules, a journal of
everything it saw, and a fault-injecting TCP proxy that reproduces network exceptions on command.

Modules, one role each:

- :mod:`seed` — seed data model (accounts, cards, merchants, terminals, unavailable BINs), YAML I/O.
- :mod:`ledger` — the issuer/acquirer ledger in SQLite (WAL, one transaction per decision);
  :mod:`ledger_schema` its tables and the one-time migration; :mod:`pan_ref` the keyed PAN hash
  (no clear card number is stored).
- :mod:`recon` — reconciliation exceptions (差错) found by batch upload.
- :mod:`request_checks` — form checks the codec cannot make (fields 12/13, header, response MTIs).
- :mod:`settlement` — batch totals (field 48).
- :mod:`kinds` — which operation a request is, from MTI + processing code + field 60.1.
- :mod:`issuer` — decision rules: every response code from real ledger state.
- :mod:`sessions` — sign-on state and working keys per terminal.
- :mod:`handler` — one request message in, one response message out (MAC, PIN, dispatch).
- :mod:`group_commit` — group commit on the event loop thread (answers only after the commit).
- :mod:`server` — the asyncio TCP server (framing, TLS, bad-input handling).
- :mod:`journal` — what the host saw and answered, queryable.
- :mod:`faults`, :mod:`proxy`, :mod:`control`, :mod:`timeline` — the fault-injecting proxy.
- :mod:`testing` — async context managers other tests reuse (``running_host``, ``running_proxy``).
"""
