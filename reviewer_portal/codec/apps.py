from django.apps import AppConfig


class CodecConfig(AppConfig):
    name = "reviewer_portal.codec"
    label = "codec"
    verbose_name = "Payload encryption and the codec endpoint"

    def ready(self) -> None:
        from django.conf import settings

        from reviewer_portal.codec import checks  # noqa: F401  (registers the deploy check)
        from reviewer_portal.codec.keys import refuse_dev_keys_in_production

        if not settings.DEBUG:
            refuse_dev_keys_in_production()
