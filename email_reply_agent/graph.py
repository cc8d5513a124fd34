"""Reply graph wiring, as the product guide draws it."""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from email_reply_agent.context import ReplyContext
from email_reply_agent.nodes.booking_reply import booking_reply
from email_reply_agent.nodes.get_context import get_context
from email_reply_agent.nodes.look_up_answer import look_up_answer
from email_reply_agent.nodes.offer_human_help import offer_human_help
from email_reply_agent.nodes.polite_thank_you import polite_thank_you
from email_reply_agent.nodes.prepare_answer import prepare_answer
from email_reply_agent.nodes.save_note import save_note
from email_reply_agent.nodes.save_outbound_note import save_outbound_note
from email_reply_agent.nodes.send_email import send_email
from email_reply_agent.nodes.short_clarification import short_clarification
from email_reply_agent.nodes.short_summary import short_summary
from email_reply_agent.nodes.understand_message import understand_message
from email_reply_agent.nodes.update_campaign import update_campaign
from email_reply_agent.state import ReplyState

AfterNote = Literal[
    "booking_reply", "polite_thank_you", "short_clarification", "look_up_answer", "short_summary", "update_campaign"
]
_BY_ACTION: dict[str, AfterNote] = {
    "booking_reply": "booking_reply",
    "thank_you": "polite_thank_you",
    "clarification": "short_clarification",
    "kb_answer": "look_up_answer",
    "summary_handoff": "short_summary",
    "opt_out": "update_campaign",
    "handoff_no_reply": "update_campaign",
}


ReplyGraph = CompiledStateGraph[ReplyState, ReplyContext, ReplyState, ReplyState]


def route_after_save_note(state: ReplyState) -> AfterNote:
    """Branch on the action the intent mapped to."""
    action = state.get("action")
    if action not in _BY_ACTION:
        raise ValueError(f"unknown action {action!r}")
    return _BY_ACTION[action]


def route_after_look_up(state: ReplyState) -> Literal["prepare_answer", "offer_human_help"]:
    """Answer when an approved article was found, else offer a human."""
    return "prepare_answer" if state.get("kb_article_id") else "offer_human_help"


def build_reply_graph() -> ReplyGraph:
    """Compile the reply graph (dependencies come from the runtime context)."""
    graph = StateGraph(ReplyState, context_schema=ReplyContext)
    for name, node in (
        ("get_context", get_context),
        ("understand_message", understand_message),
        ("save_note", save_note),
        ("booking_reply", booking_reply),
        ("polite_thank_you", polite_thank_you),
        ("short_clarification", short_clarification),
        ("look_up_answer", look_up_answer),
        ("prepare_answer", prepare_answer),
        ("offer_human_help", offer_human_help),
        ("short_summary", short_summary),
        ("send_email", send_email),
        ("save_outbound_note", save_outbound_note),
        ("update_campaign", update_campaign),
    ):
        graph.add_node(name, node)
    graph.add_edge(START, "get_context")
    graph.add_edge("get_context", "understand_message")
    graph.add_edge("understand_message", "save_note")
    graph.add_conditional_edges("save_note", route_after_save_note)
    graph.add_conditional_edges("look_up_answer", route_after_look_up)
    for writer in (
        "booking_reply",
        "polite_thank_you",
        "short_clarification",
        "prepare_answer",
        "offer_human_help",
        "short_summary",
    ):
        graph.add_edge(writer, "send_email")
    graph.add_edge("send_email", "save_outbound_note")
    graph.add_edge("save_outbound_note", "update_campaign")
    graph.add_edge("update_campaign", END)
    return graph.compile()
