"""Borrowers for `make dev` and the tests: one steady, one whose income falls as the balance grows
(an analyst's gate). Histories are made from a few figures, so they read plainly here."""

from __future__ import annotations

from dataclasses import dataclass

from agents.framework.demo import DemoCase

MONTHS = 12


@dataclass(frozen=True)
class Borrower:
    name: str
    monthly_payment: float
    income: float  # a year ago
    income_change: float  # each month
    balance: float  # a year ago
    balance_change: float  # each month
    missed: tuple[int, ...] = ()  # months (1-12) nothing was repaid

    def case(self) -> dict[str, object]:
        months = range(MONTHS)
        balances = [round(self.balance + self.balance_change * m, 2) for m in months]
        return {
            "borrower": self.name,
            "exposure": balances[-1],
            "monthly_payment": self.monthly_payment,
            "income_history": [round(self.income + self.income_change * m, 2) for m in months],
            "balance_history": balances,
            "repayment_history": [0.0 if m + 1 in self.missed else self.monthly_payment for m in months],
        }

    @property
    def subject(self) -> str:
        return f"Credit outlook: {self.name}"


STEADY = Borrower("Amira Haddad", 420, 4_100, 15, 21_000, -350)
DETERIORATING = Borrower("Tomasz Nowak", 690, 3_300, -120, 14_000, 450, missed=(9, 11))


def demo_cases() -> list[DemoCase]:
    return [DemoCase(b.name.lower().replace(" ", "-"), b.subject, b.case()) for b in (STEADY, DETERIORATING)]
