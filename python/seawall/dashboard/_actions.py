"""The dashboard's few actions, when it checks tokens: forms that change something (moving an
alias, acknowledging an alert), posted by a signed-in browser with the session's CSRF value or
by a script with a Bearer token, each needing its scope and done as the signed-in principal
(whom the registry records), and the error pages every endpoint answers with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..errors import AccessDeniedError, InvalidInputError, NotFoundError, SeawallError
from . import _access
from . import _html as h

__all__ = ["error_page", "form_action"]

# (request, its form's fields) -> the dashboard path to go to once done; raises to refuse
Act = Callable[[Request, dict[str, str]], str]

_STATUS: list[tuple[type[SeawallError], int, str]] = [
    (NotFoundError, 404, "Not found"),
    (AccessDeniedError, 403, "Not allowed"),
    (InvalidInputError, 400, "Bad request"),
]


def error_page(
    prefix: str, exc: SeawallError, fallback: tuple[int, str] = (500, "Error")
) -> Response:
    """The page of an error: 404, 403 and 400 by its class, else `fallback`."""
    code, title = next(((c, t) for cls, c, t in _STATUS if isinstance(exc, cls)), fallback)
    body = f"<h1>{h.esc(title)}</h1><p class=error>{h.esc(str(exc))}</p>"
    return HTMLResponse(h.page(title, body, prefix), status_code=code)


def form_action(gate: _access.Gate, act: Act) -> Callable[[Request], Awaitable[Response]]:
    """The POST endpoint of an action: signed in (401 otherwise), the session's CSRF value
    (403 otherwise), then `act`, whose errors are pages (a bad value: 400); a redirect (303)
    to where `act` says once it is done."""

    def run(request: Request, form: dict[str, str]) -> Response:
        prefix = request.scope.get("root_path", "").rstrip("/")
        refused = gate.admit(request, prefix)
        if refused is not None:
            return refused
        shown = h.signed_in.set(gate.signed_in_html(request, prefix))
        try:
            if not gate.csrf_ok(request, form):
                raise AccessDeniedError("the form does not match this session: reload the page")
            target = act(request, form)
        except SeawallError as exc:  # a bad alias name, a version that is not there...
            return error_page(prefix, exc, (400, "Bad request"))
        finally:
            h.signed_in.reset(shown)
        return RedirectResponse(prefix + target, status_code=303)

    async def endpoint(request: Request) -> Response:
        import anyio.to_thread

        try:
            form = await _access.read_form(request)
        except InvalidInputError as exc:
            return Response(str(exc), 413)
        # The registry and the token source may block: off the event loop.
        answer: Response = await anyio.to_thread.run_sync(run, request, form)
        return answer

    return endpoint


def hidden(**fields: Any) -> str:
    return "".join(
        f'<input type="hidden" name="{h.esc(k)}" value="{h.esc(v)}">' for k, v in fields.items()
    )
