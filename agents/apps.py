from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "AI agents (Temporal side)"

    def ready(self) -> None:
        from django.conf import settings

        from agents.framework.registry import load_agent_packages

        load_agent_packages(settings.AGENT_PACKAGES)
