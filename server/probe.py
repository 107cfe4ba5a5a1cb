"""Container health checks without curl: ``python -m server.probe http URL`` (a 2xx within two
seconds) and ``python -m server.probe database`` (a ``SELECT 1`` on ``PORTAL_DATABASE_URL``
within the readiness bound), exiting 0 when healthy and 1 otherwise, with one line on stderr."""

from __future__ import annotations

import asyncio
import sys
import urllib.request

from sqlalchemy import text


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= int(response.status) < 300
    except OSError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return False


async def _database_ok() -> bool:
    from portal.settings import get_settings
    from server.app import readiness_engine_for

    settings = get_settings()
    engine = readiness_engine_for(settings)
    try:
        async with asyncio.timeout(settings.readiness_timeout_ms / 1000 + 1):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        return True
    except Exception as exc:  # any failure means unhealthy
        print(f"database: {type(exc).__name__}: {exc}", file=sys.stderr)
        return False
    finally:
        await engine.dispose()


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "http":
        return 0 if http_ok(argv[1]) else 1
    if argv == ["database"]:
        return 0 if asyncio.run(_database_ok()) else 1
    print("usage: python -m server.probe http URL | database", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
