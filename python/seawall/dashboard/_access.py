"""Who may see what on the dashboard, when it checks tokens (``create_dashboard_app(auth=...)``,
``seawall ui --auth ...``, or the model server's ``/ui`` under ``--auth``).

A browser signs in once with a token on ``/signin``; a signed session cookie then names the
token (``seawall._server.sessions``), checked again on each request, so that revoking the token
ends the session within a second. Scripts may send ``Authorization: Bearer`` instead. Pages show
only what the token may read (models and experiments by its ``read`` scopes), and the forms that
change something (moving an alias, acknowledging an alert) need the session's CSRF value and
the matching scope.
Without auth the dashboard is open, and read-only.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .._server.auth import PRINCIPAL_KEY, Access, Authenticator, principal_of
from .._server.sessions import CSRF_COOKIE, SESSION_COOKIE, SessionSigner, cookie_header, same
from .._server.tokens import Principal
from ..errors import AccessDeniedError, AuthenticationError, InvalidInputError
from . import _html as h

__all__ = ["OPEN", "Gate", "classify", "may", "require"]

OPEN = "open"  # the scope value of a request to a dashboard without auth: it may read anything
_GRANT = "seawall.dashboard.access"  # where the gate puts OPEN or the principal in the scope
_SESSION = "seawall.dashboard.session"
_FORM_BYTES = 16 << 10


def classify(method: str, path: str) -> Access:
    """The dashboard's routes for AuthMiddleware: sign-in is public, every other page is the
    dashboard's own to decide (a session cookie, or the principal of a Bearer token)."""
    if path == "/signin":
        return Access("ui", public=True)
    return Access("ui", delegate=True)


def may(request: Request, action: str, resource: str) -> bool:
    """Whether this request's principal may do `action` on `resource` (always, without auth)."""
    granted = request.scope.get(_GRANT)
    if granted == OPEN:
        return True
    return isinstance(granted, Principal) and granted.can(action, resource)


def require(request: Request, action: str, resource: str) -> None:
    """AccessDeniedError (a 403 page) unless :func:`may`."""
    granted = request.scope.get(_GRANT)
    if isinstance(granted, Principal):
        granted.require(action, resource)
    elif granted != OPEN:
        raise AccessDeniedError(f"this page needs {action}:{resource}", f"{action}:{resource}")


def principal(request: Request) -> Principal | None:
    granted = request.scope.get(_GRANT)
    return granted if isinstance(granted, Principal) else None


async def read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form's fields (the first value of each)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _FORM_BYTES:
            raise InvalidInputError("the form is too large")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


def csrf_field(request: Request) -> str:
    """The hidden field of a form that changes something: the session's CSRF value."""
    session = request.scope.get(_SESSION)
    value = session.csrf if session is not None else ""
    return f'<input type="hidden" name="csrf" value="{h.esc(value)}">'


def _next_path(value: str | None) -> str:
    """A path inside the dashboard to go back to after signing in (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


class Gate:
    """Signs browsers in and out and finds each request's principal."""

    def __init__(self, authenticator: Authenticator, session_key: bytes | None = None) -> None:
        self.authenticator = authenticator
        self.signer = SessionSigner(session_key)

    def admit(self, request: Request, prefix: str) -> Response | None:
        """Finds the request's principal (puts it in the scope) or answers for it: a redirect
        to the sign-in page (GET), 401 (anything else), 429 over the token's rate."""
        found = principal_of(request)  # a Bearer token, checked by the middleware
        if found is None:
            session = self.signer.read(request.cookies.get(SESSION_COOKIE))
            if session is not None:
                try:
                    found = self.authenticator.principal_for(session.token_id)
                except AuthenticationError as exc:
                    return self._signin_again(request, prefix, str(exc))
                wait = self.authenticator.throttle(found)
                if wait > 0:
                    return Response(
                        "over the token's rate limit",
                        429,
                        headers={"Retry-After": str(max(1, int(wait + 0.999)))},
                    )
                request.scope[_SESSION] = session
                request.scope[PRINCIPAL_KEY] = found
        if found is None:
            return self._signin_again(request, prefix, None)
        request.scope[_GRANT] = found
        return None

    def _signin_again(self, request: Request, prefix: str, why: str | None) -> Response:
        if request.method != "GET":
            return Response(
                "sign in first", 401, headers={"WWW-Authenticate": 'Bearer realm="seawall"'}
            )
        here = request.url.path[len(prefix) :] or "/"
        if request.url.query:
            here += "?" + request.url.query
        target = f"{prefix}/signin?next={quote(here, safe='')}"
        response = RedirectResponse(target, status_code=303)
        if why is not None:  # the session's token is gone: forget the session
            response.headers.append("set-cookie", self._clear(request, prefix, SESSION_COOKIE))
        return response

    def csrf_ok(self, request: Request, form: dict[str, str]) -> bool:
        """Whether a form that changes something may: it carries the session's CSRF value (a
        browser), or the request came with a Bearer token (no browser sends one on its own)."""
        session = request.scope.get(_SESSION)
        if session is None:
            return principal(request) is not None  # a Bearer token, no cookie involved
        return same(form.get("csrf"), session.csrf)

    def signed_in_html(self, request: Request, prefix: str) -> str:
        found = principal(request)
        if found is None:
            return ""
        out = f'<span class="user">{h.esc(found.actor)} &middot; team {h.esc(found.team)}'
        if request.scope.get(_SESSION) is not None:
            out += (
                f'<form method="post" action="{h.esc(prefix)}/signout">'
                f'{csrf_field(request)}<button type="submit">sign out</button></form>'
            )
        return out + "</span>"

    # --- the sign-in and sign-out pages -------------------------------------------------------

    def _secure(self, request: Request) -> bool:
        return request.url.scheme == "https"

    def _clear(self, request: Request, prefix: str, name: str) -> str:
        return cookie_header(name, "", path=prefix + "/", secure=self._secure(request), max_age=0)

    def _form(self, request: Request, prefix: str, message: str | None, status: int) -> Response:
        csrf = self.signer.signin_csrf()
        next_path = _next_path(request.query_params.get("next"))
        note = f"<p class=error>{h.esc(message)}</p>" if message else ""
        body = (
            "<h1>Sign in</h1>"
            '<p class="sub">with a seawall token (<code>seawall tokens create --user NAME --team '
            "TEAM --scope read:models/*</code>); the dashboard shows what its scopes may read.</p>"
            f"{note}"
            f'<form class="signin" method="post" action="{h.esc(prefix)}/signin?next='
            f'{h.esc(quote(next_path, safe=""))}">'
            f'<input type="hidden" name="csrf" value="{h.esc(csrf)}">'
            '<input type="password" name="token" autocomplete="off" placeholder="swt_..." '
            'required autofocus> <button type="submit">Sign in</button></form>'
        )
        response = HTMLResponse(h.page("Sign in", body, prefix), status_code=status)
        response.headers.append(
            "set-cookie",
            cookie_header(
                CSRF_COOKIE, csrf, path=prefix + "/", secure=self._secure(request), max_age=3600
            ),
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    async def signin(self, request: Request) -> Response:
        prefix = request.scope.get("root_path", "").rstrip("/")
        if request.method == "GET":
            return self._form(request, prefix, None, 200)
        try:
            form = await read_form(request)
        except InvalidInputError as exc:
            return self._form(request, prefix, str(exc), 400)
        if not same(form.get("csrf"), request.cookies.get(CSRF_COOKIE)):
            return self._form(request, prefix, "the sign-in form had expired: sign in again", 403)
        import anyio.to_thread

        try:
            found: Principal = await anyio.to_thread.run_sync(
                self.authenticator.authenticate, form.get("token", "")
            )
        except AuthenticationError as exc:
            return self._form(request, prefix, f"not signed in: {exc}", 401)
        assert found.token_id is not None
        _, cookie = self.signer.new(found.token_id, found.expires_at)
        target = prefix + _next_path(request.query_params.get("next"))
        response = RedirectResponse(target, status_code=303)
        max_age = min(self.signer.max_age_s, (found.expires_at or float("inf")) - time.time())
        response.headers.append(
            "set-cookie",
            cookie_header(
                SESSION_COOKIE,
                cookie,
                path=prefix + "/",
                secure=self._secure(request),
                max_age=max_age,
            ),
        )
        response.headers.append("set-cookie", self._clear(request, prefix, CSRF_COOKIE))
        return response

    async def signout(self, request: Request) -> Response:
        prefix = request.scope.get("root_path", "").rstrip("/")
        session = self.signer.read(request.cookies.get(SESSION_COOKIE))
        form = await read_form(request)
        if session is not None and not same(form.get("csrf"), session.csrf):
            return Response("the sign-out form does not match the session", 403)
        response = RedirectResponse(prefix + "/signin", status_code=303)
        response.headers.append("set-cookie", self._clear(request, prefix, SESSION_COOKIE))
        return response


def grant_open(request: Request) -> None:
    """Marks a request to a dashboard without auth: it may read anything."""
    request.scope[_GRANT] = OPEN
