from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "reviewer_portal.accounts"
    label = "accounts"
