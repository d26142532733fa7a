"""The compliance rulebook the review applies: deterministic keyword rules, kept as data.

A rule matches a section when one of its `triggers` occurs and none of its `requires` patterns
(the safeguard the rule expects next to the trigger) does. Severity belongs to the rule, not to
the model: `record_finding` refuses a finding recorded below its rule's severity, so what needs a
compliance reviewer's approval is decided here, in code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SEVERITIES = ("low", "medium", "high", "critical")
EXCERPT_CHARS = 200
# Sentences end at a full stop, question or exclamation mark, or a blank line (not a line wrap).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: str
    source: str
    triggers: tuple[str, ...]
    proposed_action: str
    requires: tuple[str, ...] = field(default=())

    def match(self, text: str) -> str | None:
        """The excerpt (the sentence with the trigger) if the rule applies to `text`, else None."""
        if any(re.search(p, text, re.IGNORECASE) for p in self.requires):
            return None
        for pattern in self.triggers:
            if found := re.search(pattern, text, re.IGNORECASE):
                return _sentence_around(text, found.start())
        return None


RULEBOOK: tuple[Rule, ...] = (
    Rule(
        "FP-01",
        "Financial promotion: guaranteed or risk-free claim",
        "critical",
        "FCA COBS 4.2.1R (fair, clear and not misleading)",
        triggers=(
            r"\bguarantee[ds]?\b[^.]{0,40}\b(returns?|income|growth|profits?|gains?)\b",
            r"\b(returns?|income|growth)\b[^.]{0,30}\bguaranteed\b",
            r"\brisk[- ]free\b",
            r"\bcan(no|')t lose\b",
        ),
        proposed_action=(
            "Remove the guarantee or risk-free claim, or substantiate it with the terms of an actual "
            "guarantee (who gives it, its conditions and limits)."
        ),
    ),
    Rule(
        "FP-02",
        "Financial promotion: investment returns without a risk warning",
        "high",
        "FCA COBS 4.5A and 4.6 (past performance, balanced information)",
        triggers=(
            r"\b(returns?|yield|growth)\b[^.]{0,40}\d+(\.\d+)?\s?%",
            r"\binvest(ing|ment|ments)?\b[^.]{0,60}\b(grow|growth|returns?)\b",
        ),
        requires=(
            r"\bcapital (is )?at risk\b",
            r"\bvalue of (your |an |the )?investments? (can|may) (fall|go down)",
            r"\bget back less\b",
        ),
        proposed_action=(
            "Add a prominent risk warning next to the figure: 'Capital at risk. The value of investments "
            "can fall as well as rise and you may get back less than you invest.'"
        ),
    ),
    Rule(
        "CD-01",
        "Consumer Duty: charges not disclosed with their amounts",
        "medium",
        "FCA PRIN 2A.4 (price and value outcome)",
        triggers=(
            r"\b(exit|early (repayment|withdrawal)|administration|admin|arrangement|management) (fee|charge)s?\b",
        ),
        requires=(r"[£$€]\s?\d", r"\d+(\.\d+)?\s?%"),
        proposed_action=(
            "State each charge with its amount or rate and when it applies, and reference the product's "
            "fair value assessment."
        ),
    ),
    Rule(
        "CD-02",
        "Consumer Duty: no support route for customers in vulnerable circumstances",
        "medium",
        "FCA FG21/1 and PRIN 2A.6 (consumer support outcome)",
        triggers=(
            r"\bvulnerab",
            r"\bbereave",
            r"\bfinancial difficult",
            r"\barrears\b",
            r"\bhealth condition",
        ),
        requires=(r"\bsupport team\b", r"\breasonable adjustments?\b", r"\bspecialist\b", r"\bsignpost"),
        proposed_action=(
            "Describe how customers in vulnerable circumstances get support: a dedicated contact route, "
            "reasonable adjustments, and signposting to free debt advice."
        ),
    ),
    Rule(
        "DP-01",
        "UK GDPR: personal data used or shared without a stated lawful basis",
        "high",
        "UK GDPR Articles 6 and 13",
        triggers=(
            r"\bpersonal (data|information)\b",
            r"\bshare\b[^.]{0,60}\b(partners?|third[- ]part(y|ies)|affiliates?)\b",
        ),
        requires=(
            r"\blawful basis\b",
            r"\blegitimate interests?\b",
            r"\bconsent\b",
            r"\bperformance of (a|the|our) contract\b",
            r"\blegal obligation\b",
        ),
        proposed_action=(
            "State the lawful basis for each purpose (Article 6), name the recipients or categories of "
            "recipients, and link the privacy notice."
        ),
    ),
    Rule(
        "DP-02",
        "UK GDPR: retention period not stated",
        "medium",
        "UK GDPR Article 5(1)(e) (storage limitation)",
        triggers=(
            r"\b(retain|retained|retention|store|stored|keep|kept)\b[^.]{0,60}\b(data|records|recordings|information|notes)\b",
            r"\b(data|records|recordings|information|notes)\b[^.]{0,60}\b(retained|stored|kept)\b",
        ),
        # An indefinite period is a stated one; DP-03 deals with it.
        requires=(
            r"\b\d+\s+(years?|months?|days?)\b",
            r"\bretention schedule\b",
            r"\bindefinitely\b",
            r"\bforever\b",
        ),
        proposed_action="State how long each category of data is kept, or the criteria used, and cite the retention schedule.",
    ),
    Rule(
        "DP-03",
        "UK GDPR: personal data kept indefinitely",
        "high",
        "UK GDPR Article 5(1)(e) (storage limitation)",
        triggers=(
            r"\bindefinitely\b",
            r"\bforever\b",
            r"\bno (fixed )?retention (period|limit)\b",
            r"\bnever (be )?deleted\b",
        ),
        proposed_action="Replace indefinite retention with a period tied to the purpose, then delete or anonymise.",
    ),
    Rule(
        "AML-01",
        "AML/KYC: customer due diligence waived",
        "critical",
        "Money Laundering Regulations 2017, regulations 27 and 28",
        triggers=(
            r"\bwithout\b[^.]{0,40}\b(identity|ID|KYC|verification|due diligence|proof of address)\b",
            r"\b(waive[sd]?|skip(s|ped)?|no need for|not required?)\b[^.]{0,40}\b(identity|ID|KYC|verification|due diligence)\b",
        ),
        proposed_action=(
            "Remove the waiver: customer due diligence (identification and verification) must be complete "
            "before the business relationship starts. Escalate to the MLRO."
        ),
    ),
    Rule(
        "AML-02",
        "AML: cash or third-party payments without monitoring",
        "high",
        "Money Laundering Regulations 2017, regulation 33; POCA 2002 section 330",
        triggers=(r"\bcash deposits?\b", r"\bthird[- ]party payments?\b"),
        requires=(
            r"\bMLRO\b",
            r"\bsuspicious activity\b",
            r"\benhanced due diligence\b",
            r"\btransaction monitoring\b",
        ),
        proposed_action=(
            "Add the controls: transaction monitoring thresholds, enhanced due diligence for third-party "
            "payers, and reporting suspicions to the MLRO."
        ),
    ),
    Rule(
        "CH-01",
        "Complaints: final response deadline not stated",
        "medium",
        "FCA DISP 1.6.2R",
        triggers=(r"\bcomplain",),
        requires=(r"\b(8|eight) weeks\b",),
        proposed_action="State that a final response is sent within 8 weeks (15 business days for payment services).",
    ),
    Rule(
        "CH-02",
        "Complaints: Financial Ombudsman Service not mentioned",
        "low",
        "FCA DISP 1.2.1R",
        triggers=(r"\bcomplain",),
        requires=(r"\bFinancial Ombudsman\b",),
        proposed_action="Tell customers they may refer an unresolved complaint to the Financial Ombudsman Service, with its contact details.",
    ),
    Rule(
        "PL-01",
        "Plain language: legal jargon in a customer communication",
        "low",
        "FCA PRIN 2A.5 (consumer understanding outcome)",
        triggers=(r"\b(notwithstanding|hereinafter|heretofore|pursuant to|inter alia)\b",),
        proposed_action="Rewrite the passage in plain language and test it with customers.",
    ),
)

RULES = {rule.id: rule for rule in RULEBOOK}


def rules_matching(text: str) -> list[tuple[Rule, str]]:
    """Every rule that applies to `text`, with its excerpt, in rulebook order."""
    return [(rule, excerpt) for rule in RULEBOOK if (excerpt := rule.match(text)) is not None]


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def _sentence_around(text: str, position: int) -> str:
    """The sentence of `text` containing `position`, at most EXCERPT_CHARS long, whitespace collapsed."""
    start = 0
    for boundary in _SENTENCE_END.finditer(text):
        if boundary.start() >= position:
            end = boundary.start()
            break
        start = boundary.end()
    else:
        end = len(text)
    if end - start > EXCERPT_CHARS:
        start = max(start, min(position - EXCERPT_CHARS // 4, end - EXCERPT_CHARS))
        end = start + EXCERPT_CHARS
    return " ".join(text[start:end].split())
