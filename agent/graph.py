"""Outreach graph wiring: prepare → choose channel → send → log → summarize → update → plan next → done.

The same graph sends an engaged campaign's nudge (state `nudge`): same channel rules, claims and commit.
"""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent.context import OutreachContext
from agent.nodes.choose_channel import choose_channel
from agent.nodes.log_interaction import log_interaction
from agent.nodes.plan_next_follow_up import plan_next_follow_up
from agent.nodes.prepare_message import prepare_message
from agent.nodes.send import send
from agent.nodes.summarize import summarize
from agent.nodes.update_campaign import update_campaign
from agent.state import OutreachState

OutreachGraph = CompiledStateGraph[OutreachState, OutreachContext, OutreachState, OutreachState]


def route_after_choose_channel(state: OutreachState) -> Literal["send", "update_campaign"]:
    """Send when a channel was found, else record why not."""
    if "channel" not in state:
        raise ValueError("choose_channel did not decide")
    return "send" if state["channel"] is not None else "update_campaign"


def route_after_send(state: OutreachState) -> Literal["log_interaction", "update_campaign"]:
    """Log only what reached the patient."""
    status = state["send"].status
    if status in ("sent", "already_sent"):
        return "log_interaction"
    if status in ("unknown", "in_progress", "retry_later", "opted_out", "undeliverable"):
        return "update_campaign"
    raise ValueError(f"unknown send status {status!r}")


def build_outreach_graph() -> OutreachGraph:
    """Compile the outreach graph (dependencies come from the runtime context at invoke time)."""
    graph = StateGraph(OutreachState, context_schema=OutreachContext)
    graph.add_node("prepare_message", prepare_message)
    graph.add_node("choose_channel", choose_channel)
    graph.add_node("send", send)
    graph.add_node("log_interaction", log_interaction)
    graph.add_node("summarize", summarize)
    graph.add_node("update_campaign", update_campaign)
    graph.add_node("plan_next_follow_up", plan_next_follow_up)
    graph.add_edge(START, "prepare_message")
    graph.add_edge("prepare_message", "choose_channel")
    graph.add_conditional_edges("choose_channel", route_after_choose_channel)
    graph.add_conditional_edges("send", route_after_send)
    graph.add_edge("log_interaction", "summarize")
    graph.add_edge("summarize", "update_campaign")
    graph.add_edge("update_campaign", "plan_next_follow_up")
    graph.add_edge("plan_next_follow_up", END)
    return graph.compile()
