from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "reviewer_portal.audit"
    label = "audit"
