"""The /admin mount: SQLAdmin's panels (admin/sqladmin_app.py)."""

from __future__ import annotations

from admin.sqladmin_app import admin_panels

__all__ = ["admin_panels"]
