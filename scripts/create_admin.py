"""Create a staff account or reset its password: `python -m scripts.create_admin --email X [--role staff]`."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer

from core.config import Settings
from core.container import Container
from core.security import hash_password, password_problem, sha256_hex
from domain.users_admin import normalize_email
from models.enums import Role
from models.system import User
from scripts.common import open_container

PASSWORD_ENV = "ADMIN_PASSWORD"  # noqa: S105 - the name of the variable, not a secret

app = typer.Typer(add_completion=False, help=__doc__)


class WeakPasswordError(ValueError):
    """The password does not meet the app's password policy."""


def check_password(password: str) -> None:
    """Raise WeakPasswordError when the password breaks the policy (the same one the admin console applies)."""
    problem = password_problem(password)
    if problem:
        raise WeakPasswordError(problem)


async def create_or_reset_admin(container: Container, email: str, password: str, role: Role = Role.ADMIN) -> User:
    """Create the account or reset its password and role, and lift any login lockout."""
    check_password(password)
    email = normalize_email(email)
    user = await container.repos.users.create_or_reset(
        email=email, password_hash=hash_password(password), role=role, now=container.clock.now()
    )
    # Same key as domain.auth uses for its failed-login counters: a reset account can log in right away.
    await container.repos.login_attempts.reset(sha256_hex(email))
    return user


def read_password() -> str:
    """The password from ADMIN_PASSWORD when set, else a hidden prompt with confirmation."""
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


async def _run(settings: Settings, email: str, password: str, role: Role) -> User:
    async with open_container(settings) as container:
        user = await create_or_reset_admin(container, email, password, role)
        await container.repos.audit.record(
            actor="cli:create_admin",
            action="user.create_or_reset",
            resource=f"users/{user.id}",
            at=container.clock.now(),
        )
        return user


@app.command()
def main(
    email: Annotated[str, typer.Option(help="Login email of the account.")],
    role: Annotated[Role, typer.Option(help="Role of the account.")] = Role.ADMIN,
) -> None:
    """Create or reset a staff account (password from ADMIN_PASSWORD or a hidden prompt)."""
    try:
        email = normalize_email(email)
    except ValueError as exc:
        typer.echo(f"Error: {exc}.", err=True)
        raise typer.Exit(code=2) from None
    password = read_password()
    try:
        check_password(password)
    except WeakPasswordError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    user = asyncio.run(_run(Settings(), email, password, role))
    typer.echo(f"User {user.email} ready with role {user.role.value}.")


if __name__ == "__main__":
    app()
