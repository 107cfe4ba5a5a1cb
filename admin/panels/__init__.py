"""SQLAdmin panels over every table (see admin/sqladmin_app.py for how they are served)."""
