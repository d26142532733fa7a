"""Customer support agent: a durable conversation with a customer (SupportConversationWorkflow).

The agent answers from the customer's account history and raises tickets; what it cannot resolve
it hands to a support representative, who takes the conversation over in the portal. The
conversation is a workflow of its own, which the worker serves beside the shared one.
"""

from temporalio import workflow

# The workflow sandbox runs this file again when it loads the conversation workflow: the spec
# (prompts read from disk, the registry) is the host's, passed through, never built twice.
with workflow.unsafe.imports_passed_through():
    from agents.support.spec import SUPPORT_AGENT

__all__ = ["SUPPORT_AGENT"]
