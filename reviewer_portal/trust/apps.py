from django.apps import AppConfig


class TrustConfig(AppConfig):
    name = "reviewer_portal.trust"
    label = "trust"
    verbose_name = "Signed reviewer actions"

    def ready(self) -> None:
        from reviewer_portal.trust import checks  # noqa: F401  (registers the deploy check)
