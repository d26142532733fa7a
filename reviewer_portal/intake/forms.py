from __future__ import annotations

from decimal import Decimal

from django import forms

PURPOSES = [
    ("home improvement", "Home improvement"),
    ("car", "Car"),
    ("debt consolidation", "Debt consolidation"),
    ("education", "Education"),
    ("business", "Small business"),
    ("other", "Other"),
]


class LoanApplicationForm(forms.Form):
    applicant_name = forms.CharField(max_length=120)
    amount = forms.DecimalField(min_value=Decimal("500"), max_value=Decimal("1000000"), decimal_places=2)
    term_months = forms.IntegerField(min_value=6, max_value=360)
    purpose = forms.ChoiceField(choices=PURPOSES)
    annual_income = forms.DecimalField(
        min_value=Decimal("1"), max_value=Decimal("100000000"), decimal_places=2
    )
    monthly_debts = forms.DecimalField(
        min_value=Decimal("0"), max_value=Decimal("10000000"), decimal_places=2
    )
    credit_score = forms.IntegerField(min_value=300, max_value=850, help_text="As declared by the applicant.")
    # Becomes the workflow id: submitting the same form twice starts one run.
    submission_id = forms.UUIDField(widget=forms.HiddenInput)
