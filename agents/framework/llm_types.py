"""What the model activities take and return: the agent's messages in, the model's answer out.

Plain data (no openai): the workflow sends these through history.
Evaluated annotations, not strings: see agents/framework/types.py.
"""

from dataclasses import dataclass, field

from agents.framework.types import LOAN_OUTCOMES, ChatMessage, PromptRef, Recommendation


@dataclass
class LlmRequest:
    agent: str
    prompt: PromptRef
    model: str
    messages: list[ChatMessage]
    tools: list[str]
    outcomes: list[str] = field(default_factory=lambda: list(LOAN_OUTCOMES))


@dataclass
class LlmResponse:
    model: str
    offline: bool
    message: ChatMessage
    recommendation: Recommendation | None
    prompt: PromptRef
    usage: dict[str, int] = field(default_factory=dict)
    latency_ms: int = 0


@dataclass
class SummariseRequest:
    agent: str
    model: str
    messages: list[ChatMessage]
    prompt: PromptRef | None = None


@dataclass
class SummariseResponse:
    summary: str
    model: str
    prompt: PromptRef
    usage: dict[str, int] = field(default_factory=dict)
