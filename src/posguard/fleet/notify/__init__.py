"""Incident notifications: channels and routes as data, a transactional outbox, escalation,
storm grouping, per-channel rate limits and the delivery loop.

::

    incident transition (open / ack / resolve, in the incident's own transaction)
        └─ hook.py: routing.py decides (channel, recipient, language, audience)
              └─ outbox.py: one row per idempotency key (incident, transition, channel, recipient)
    delivery.py (every fleet worker): enqueue overdue escalation levels; claim due rows
        (conditional UPDATE / FOR UPDATE SKIP LOCKED), group a storm into one message,
        respect the channel's rate, send through channels/*, mark sent / retry / failed
"""
