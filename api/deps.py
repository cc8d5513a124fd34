"""Every dependency, declared once as an Annotated alias."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from core.clock import Clock
from core.config import Settings
from core.container import Container
from domain.auth import AuthService
from domain.booking import BookingService
from domain.campaigns_admin import CampaignAdminService
from domain.consent import ConsentService
from domain.console_sessions import ConsoleSessionService
from domain.dashboard import DashboardService
from domain.inbox import InboxService
from domain.knowledge_base import KnowledgeBaseService
from domain.outbox import OutboxService
from domain.outreach import OutreachService
from domain.patients_admin import PatientAdminService
from domain.replies import ReplyService
from domain.staff_replies import StaffReplyService
from domain.users_admin import UserAdminService
from models.enums import Role
from models.system import User

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login", auto_error=False)


def get_container(request: Request) -> Container:
    """The running instance's container."""
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_settings(container: ContainerDep) -> Settings:
    """Settings of the running instance."""
    return container.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_clock(container: ContainerDep) -> Clock:
    """The instance's clock (injectable in tests)."""
    return container.clock


ClockDep = Annotated[Clock, Depends(get_clock)]


def get_auth_service(container: ContainerDep) -> AuthService:
    """The authentication use case."""
    return container.auth()


AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]


async def current_staff(auth: AuthServiceDep, token: Annotated[str | None, Depends(oauth2_scheme)]) -> User:
    """Any logged-in staff member (staff or admin)."""
    return await auth.authenticate(token)


CurrentStaff = Annotated[User, Depends(current_staff)]


async def current_admin(auth: AuthServiceDep, user: CurrentStaff) -> User:
    """A logged-in admin."""
    return auth.require_role(user, Role.ADMIN)


CurrentAdmin = Annotated[User, Depends(current_admin)]


def client_ip(request: Request) -> str | None:
    """The caller's address (uvicorn --proxy-headers resolves X-Forwarded-For from trusted proxies)."""
    return request.client.host if request.client else None


ClientIP = Annotated[str | None, Depends(client_ip)]


def get_console_sessions(container: ContainerDep) -> ConsoleSessionService:
    """Staff console sessions."""
    return container.console_sessions()


ConsoleSessionsDep = Annotated[ConsoleSessionService, Depends(get_console_sessions)]


def get_booking_service(container: ContainerDep) -> BookingService:
    """The booking use case."""
    return container.booking()


BookingServiceDep = Annotated[BookingService, Depends(get_booking_service)]


def get_outreach_service(container: ContainerDep) -> OutreachService:
    """The outreach use case, sharing the container's compiled graph and ports."""
    return container.outreach()


OutreachServiceDep = Annotated[OutreachService, Depends(get_outreach_service)]


def get_outbox_service(container: ContainerDep) -> OutboxService:
    """The development outbox's audited reads."""
    return container.outbox()


OutboxServiceDep = Annotated[OutboxService, Depends(get_outbox_service)]


def get_consent_service(container: ContainerDep) -> ConsentService:
    """Opt-out handling."""
    return container.consent()


ConsentServiceDep = Annotated[ConsentService, Depends(get_consent_service)]


def get_dashboard_service(container: ContainerDep) -> DashboardService:
    """The dashboard, served from the instance's snapshot."""
    return container.dashboard()


DashboardServiceDep = Annotated[DashboardService, Depends(get_dashboard_service)]


def get_campaign_admin_service(container: ContainerDep) -> CampaignAdminService:
    """Staff campaign views and actions; status changes mark the dashboard snapshot stale."""
    return container.campaign_admin()


CampaignAdminServiceDep = Annotated[CampaignAdminService, Depends(get_campaign_admin_service)]


def get_patient_admin_service(container: ContainerDep) -> PatientAdminService:
    """Staff patient views, edits, consent and CSV import."""
    return container.patient_admin()


PatientAdminServiceDep = Annotated[PatientAdminService, Depends(get_patient_admin_service)]


def get_reply_service(container: ContainerDep) -> ReplyService:
    """Replies to incoming messages (the reply graph)."""
    return container.replies()


ReplyServiceDep = Annotated[ReplyService, Depends(get_reply_service)]


def get_inbox_service(container: ContainerDep) -> InboxService:
    """The clinic mailbox: Gmail watch, pushes and history sync."""
    return container.inbox()


InboxServiceDep = Annotated[InboxService, Depends(get_inbox_service)]


def get_staff_reply_service(container: ContainerDep) -> StaffReplyService:
    """The handoff queue and staff answers in the patient's thread."""
    return container.staff_replies()


StaffReplyServiceDep = Annotated[StaffReplyService, Depends(get_staff_reply_service)]


def get_kb_admin(container: ContainerDep) -> KnowledgeBaseService:
    """Knowledge-base editing and the reply agent's article choice, previewed."""
    return container.kb_admin()


KnowledgeBaseServiceDep = Annotated[KnowledgeBaseService, Depends(get_kb_admin)]


def get_user_admin_service(container: ContainerDep) -> UserAdminService:
    """Staff accounts and the audit trail (admins)."""
    return container.users_admin()


UserAdminServiceDep = Annotated[UserAdminService, Depends(get_user_admin_service)]
