from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "reviewer_portal.accounts"
    label = "accounts"

    def ready(self) -> None:
        from reviewer_portal.accounts import checks  # noqa: F401  (registers the roles check)

        post_migrate.connect(create_role_groups, sender=self)


def create_role_groups(**kwargs: object) -> None:
    """After `migrate`: a group for every role the registered agents declare, and the auditor's
    (a new agent package brings its roles without a migration of its own)."""
    from django.contrib.auth.models import Group

    from reviewer_portal.accounts.roles import group_names

    for name in group_names():
        Group.objects.get_or_create(name=name)
