"""One module per channel kind; each turns a :class:`~posguard.fleet.notify.message.Message`
into the vendor's request (a pure ``build_*`` function, tested against local receivers) and
sends it, answering a :class:`~posguard.fleet.notify.channels.base.SendResult`."""
