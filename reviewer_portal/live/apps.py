from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "reviewer_portal.live"
    label = "live"

    def ready(self) -> None:
        from channels.layers import get_channel_layer

        from reviewer_portal.inbox.signals import gate_changed
        from reviewer_portal.live.access import connect_signals
        from reviewer_portal.live.broadcast import announce_gate_change

        # Every process that writes the projection (worker sidecar, portal) pushes its changes.
        gate_changed.connect(announce_gate_change, dispatch_uid="live.announce_gate_change")
        # A user's open sockets check their access when it changes (roles, account, sign-out).
        connect_signals()
        # Build the layer (no connection yet) so its backend is imported now: imported by the
        # worker's first push instead, channels-redis would load on an activity thread while a
        # workflow activation holds Temporal's sandbox import hook, which warns for each module.
        get_channel_layer()
