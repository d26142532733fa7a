"""Demo loan applications for `make dev`: an approval, a referral, declines and a large loan."""

from __future__ import annotations

from agents.framework.demo import DemoCase
from agents.loans.intake import LoanApplication

DEMO_APPLICATIONS = (
    LoanApplication("Amira Haddad", 18_000, 48, "home improvement", 62_000, 450, 742),
    LoanApplication("Tomasz Nowak", 9_500, 36, "car", 41_000, 900, 668),
    LoanApplication("Grace Okafor", 35_000, 60, "debt consolidation", 38_000, 1_150, 601),
    LoanApplication("Liam Byrne", 72_000, 84, "business", 120_000, 800, 715),
    LoanApplication("Sofia Rossi", 4_000, 24, "education", 28_000, 150, 548),
)


def demo_cases() -> list[DemoCase]:
    return [
        DemoCase(app.applicant_name, (req := app.run_request()).subject, req.case)
        for app in DEMO_APPLICATIONS
    ]
