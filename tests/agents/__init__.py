"""Agent packages that exist only for tests; a worker loads one through AGENT_PACKAGES."""
