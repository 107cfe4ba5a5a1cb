"""Staff sign-in and sign-out (/mod/login, /mod/logout)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from sqlalchemy.ext.asyncio import AsyncSession

from dashboard.pages import field, read_form, render, see_other
from dashboard.staff_auth import current_staff, safe_next, sign_in, sign_out
from portal.client_address import client_address
from portal.errors import InvalidCredentials, InvalidInput, ServiceBusy, SignInThrottled
from portal.services.staff import authenticate_staff, record_sign_out


@get("/mod/login", name="mod.login", include_in_schema=False)
async def login_page(
    request: Request[Any, Any, Any], next: FromQuery[str | None] = None
) -> Response[Any]:
    if await current_staff(request) is not None:
        return see_other(safe_next(next))
    return render(request, "mod/login.html", {"next": safe_next(next), "email": ""})


@post("/mod/login", include_in_schema=False)
async def login(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Response[Any]:
    form = await read_form(request)
    email, password = field(form, "email"), form.get("password") or ""
    target = safe_next(field(form, "next"))
    address = client_address(request, request.app.state.settings.trusted_proxies)
    context: dict[str, Any] = {"next": target, "email": email}
    try:
        staff = await authenticate_staff(db_session, email, str(password), address=address)
    except (InvalidCredentials, InvalidInput):
        context["error"] = "That email and password do not match an active staff account."
        return render(request, "mod/login.html", context, status_code=401)
    except ServiceBusy as exc:
        context["error"] = "Too many sign-ins are being checked right now. Try again shortly."
        return render(
            request,
            "mod/login.html",
            context,
            status_code=exc.status_code,
            headers={"retry-after": str(exc.retry_after_seconds)},
        )
    except SignInThrottled as exc:
        minutes = max(1, -(-exc.retry_after_seconds // 60))
        context["error"] = f"Too many failed sign-ins. Try again in {minutes} minutes."
        return render(
            request,
            "mod/login.html",
            context,
            status_code=429,
            headers={"retry-after": str(exc.retry_after_seconds)},
        )
    sign_in(request, staff)
    return see_other(target)


@post("/mod/logout", name="mod.logout", include_in_schema=False)
async def logout(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Response[Any]:
    """Ends this session and, through the audit event, every earlier one of the account."""
    staff = await current_staff(request)
    if staff is not None:
        await record_sign_out(db_session, staff)
    sign_out(request)
    return see_other("/mod/login")
