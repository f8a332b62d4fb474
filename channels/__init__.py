"""The seam between the core and the channels.

Both sides import this package and nothing of each other: adapters turn platform payloads
into :class:`channels.events.InboundEvent` and render :class:`channels.events.OutboundMessage`;
the core reads each adapter's declared :class:`channels.adapter.Capabilities`.
"""
