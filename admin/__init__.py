"""SQLAdmin's panels under /admin, behind the dashboard's staff sign-in."""

from __future__ import annotations

from admin.sqladmin_app import admin_panels

__all__ = ["admin_panels"]
