"""The Alembic migration chain, driven from code (``portal db upgrade`` / ``downgrade``)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from portal import database_roles
from portal.settings import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def upgrade_database(
    owner_url: str, runtime_url: str, revision: str = "head"
) -> database_roles.RoleSetup:
    """``portal db upgrade``: migrates as the schema's owner, then sets up the app's runtime
    role (created if missing, granted what :data:`database_roles.RUNTIME_GRANTS` declares)."""
    upgrade(owner_url, revision)
    return database_roles.setup_runtime_role(owner_url, runtime_url)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def revision_ids() -> list[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [rev.revision for rev in script.walk_revisions()]
