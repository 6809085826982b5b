"""Checks of the plugin's HTTP routes: how they mount, and how they answer the exercise."""

from __future__ import annotations

import re

from .._checks import Verdict, check, failed, passed
from .._evidence import NO_BODY, Evidence, Exchange
from ._util import TIMEOUT_FIX, bullets

#: Upstream down, feature switched off: deliberate, at most a note.
_DELIBERATE = (502, 503, 504)
_MAX_LINES = 8


def _norm(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/") or "/")


@check(
    "routes.routers",
    severity="error",
    description="get_api_routes() returns a list of fastapi.APIRouter.",
    fix="Return a list (possibly empty) of APIRouter objects.",
    needs={"initialized"},
)
def routers(ev: Evidence) -> Verdict | None:
    error = ev.start_error
    if error is not None and getattr(error, "stage", None) == "routes":
        return failed(str(error))
    return None


@check(
    "routes.openapi",
    severity="error",
    description="The routers mount and the app's OpenAPI schema builds.",
    fix="Use pydantic models and types FastAPI can describe in route signatures.",
    needs={"routes"},
)
def openapi(ev: Evidence) -> Verdict | None:
    if ev.openapi is not None and ev.openapi.problem:
        return failed(f"the OpenAPI schema does not build: {ev.openapi.problem}")
    return None


@check(
    "routes.declared",
    severity="error",
    description="Every endpoint declared in api_endpoints exists with its method.",
    fix="Add the route, or correct the method or path in api_endpoints.",
    needs={"routes"},
)
def declared(ev: Evidence) -> Verdict | None:
    served = {(m, _norm(p)) for m, p in ev.routes}
    missing = []
    for endpoint in ev.manifest.api_endpoints:
        full = _norm(ev.prefix + ("" if endpoint.path.startswith("/") else "/") + endpoint.path)
        if (endpoint.method, full) not in served:
            missing.append(
                f"{endpoint.method} {endpoint.path} (expected at {ev.prefix}{endpoint.path})"
            )
    if missing:
        return failed(
            "endpoints declared in api_endpoints that the plugin does not serve:\n"
            + bullets(missing)
            + "\nserved routes:\n"
            + bullets([f"{m} {p}" for m, p in ev.routes] or ["(none)"])
        )
    return None


@check(
    "routes.unique",
    severity="error",
    description="No two routes have the same method and path.",
    fix="Remove or rename the duplicate route.",
    needs={"routes"},
)
def unique(ev: Evidence) -> Verdict | None:
    seen: set[tuple[str, str]] = set()
    clashes = []
    for method, path in ev.routes:
        key = (method, _norm(path))
        if key in seen:
            clashes.append(f"{method} {path} is defined twice")
        seen.add(key)
    if clashes:
        return failed(bullets(sorted(set(clashes))))
    return None


@check(
    "routes.get_ok",
    severity="error",
    description="Every GET route without path parameters answers below 500 after initialize().",
    fix="Fix the exception behind the 500; return 4xx for requests the route cannot serve.",
    needs={"get_ok"},
)
def get_ok(ev: Evidence) -> Verdict | None:
    errors = []
    timeouts = 0
    for x in ev.get_ok:
        if x.problem:
            errors.append(x.problem)
            timeouts += "did not finish within" in x.problem
        elif x.status is not None and x.status >= 500:
            # Mask before cutting: a cut secret would no longer be recognised.
            errors.append(f"GET {x.url_path} answered {x.status}: {ev.masker(x.text)[:200]}")
    if errors:
        return failed(bullets(errors), TIMEOUT_FIX if timeouts == len(errors) else None)
    return None


@check(
    "routes.prefix",
    severity="warning",
    description="""Routers carry no prefix of their own (nexus-platform 0.1.5 applies a router's
    prefix twice when it mounts plugin routes).""",
    fix="Put the prefix in each route's path instead of APIRouter(prefix=...).",
    needs={"routes"},
)
def prefix(ev: Evidence) -> Verdict | None:
    prefixed = ev.router_prefixes
    if prefixed:
        return failed(
            f"routers with a prefix of their own ({', '.join(map(repr, prefixed))}): the harness "
            f"mounts them at {ev.prefix}<prefix>/..., but nexus-platform 0.1.5 applies the prefix "
            f"twice, so on that release the routes are at {ev.prefix}{prefixed[0]}{prefixed[0]}/..."
        )
    return None


# ------------------------------------------------------------------ the exercise


def _line(ev: Evidence, x: Exchange, what: str) -> str:
    line = f"{x.call()}  ->  {what}"
    if x.raised:
        line += f"\n  raised {x.raised}"
    frames = [f for f in x.frames.splitlines() if f.strip() and set(f.strip()) != {"^"}]
    if frames:
        line += "\n" + "\n".join("  " + f for f in frames)
    return ev.masker(line)


def _listing(ev: Evidence, items: list[tuple[Exchange, str]], sent: int) -> str:
    """The shortest failing request of each method + route, then how many more failed."""
    shortest: dict[tuple[str, str], tuple[Exchange, str]] = {}
    for x, what in items:
        key = (x.method, x.template)
        if key not in shortest or len(x.call()) < len(shortest[key][0].call()):
            shortest[key] = (x, what)
    shown = list(shortest.values())[:_MAX_LINES]
    more = len(items) - len(shown)
    tail = f"\n(and {more} more failing request(s) of these routes)" if more else ""
    return (
        bullets(_line(ev, x, what) for x, what in shown)
        + tail
        + (f"\n({sent} request(s) sent by the exercise)")
    )


@check(
    "routes.no_server_error",
    severity="error",
    description="""No request of the API exercise (every operation of the OpenAPI document, with
    drawn valid and invalid parameters and bodies, ids fed from earlier responses, unknown ids)
    gets a 500; a deliberate 502, 503 or 504 is only noted.""",
    fix="""Fix the exception at the plugin frame shown, or answer the request with a 4xx
    (HTTPException(404) for an unknown id; do not turn your own HTTPException into a 500 in an
    `except Exception` block).""",
    needs={"exercise"},
)
def no_server_error(ev: Evidence) -> Verdict | None:
    if not ev.exchanges:
        return passed("no operation to exercise")
    bad: list[tuple[Exchange, str]] = []
    notes: list[str] = []
    timeouts = 0
    for x in ev.exchanges:
        if x.problem:
            bad.append((x, x.problem.splitlines()[0]))
            timeouts += "did not finish within" in x.problem
        elif x.status is not None and x.status >= 500:
            if x.status in _DELIBERATE and not x.raised:
                notes.append(f"{x.method} {x.relative} answered {x.status}")
            else:
                bad.append((x, f"{x.status}"))
    if bad:
        return failed(
            "requests answered with a server error:\n" + _listing(ev, bad, len(ev.exchanges)),
            TIMEOUT_FIX if timeouts == len(bad) else None,
        )
    note = f"; noted: {', '.join(sorted(set(notes)))}" if notes else ""
    return passed(f"{len(ev.exchanges)} request(s) answered below 500{note}")


@check(
    "routes.response_schema",
    severity="error",
    description="""Every 2xx JSON response of the exercise matches the response model its route
    declares (error statuses such as 404 or 409 need not be declared).""",
    fix="""Return what the route's response_model (or responses=) declares, or declare what it
    returns; a JSONResponse bypasses FastAPI's own check of the model.""",
    needs={"exercise"},
)
def response_schema(ev: Evidence) -> Verdict | None:
    from ...strategies._schema import Compiler

    bad: list[tuple[Exchange, str]] = []
    checked = 0
    for x in ev.exchanges:
        if x.status is None or not 200 <= x.status < 300 or x.response_schema is None:
            continue
        body = x.json()
        if body is NO_BODY:
            continue
        checked += 1
        compiler = Compiler(x.template, "the contract", root=x.document, refs=True)
        errors = sorted(compiler.validator(x.response_schema).iter_errors(body), key=str)
        if errors:
            error = errors[0]
            where = "/".join(str(p) for p in error.absolute_path) or "(the body)"
            bad.append((x, f"{x.status}, but at {where}: {error.message[:200]}"))
    if bad:
        return failed(
            "2xx responses that do not match the declared response model:\n"
            + _listing(ev, bad, len(ev.exchanges))
        )
    return passed(f"{checked} response(s) matched their declared model")


@check(
    "routes.rejects_invalid",
    severity="warning",
    description="""Invalid bodies and parameters of the exercise (a required field missing, a
    wrong type, a value outside an enum) get a 4xx, not a 2xx.""",
    fix="""Declare the types of parameters and bodies (pydantic models, typed parameters) so
    FastAPI answers 422, or validate them in the route and raise HTTPException(400).""",
    needs={"exercise"},
)
def rejects_invalid(ev: Evidence) -> Verdict | None:
    tried = [x for x in ev.exchanges if x.kind == "invalid"]
    if not tried:
        return passed("no operation declares input with rules to break")
    bad = [(x, f"{x.status}") for x in tried if x.status is not None and 200 <= x.status < 300]
    if bad:
        return failed(
            "invalid requests that were accepted:\n" + _listing(ev, bad, len(ev.exchanges))
        )
    return passed(f"{len(tried)} invalid request(s) refused")


def _on_an_object(x: Exchange) -> bool:
    """A request that needs the object to exist: GET, PATCH, DELETE, or a POST/PUT
    to a path going on after the id (an action on it); PUT or POST to ``.../{id}``
    may create it."""
    if x.method in ("GET", "PATCH", "DELETE"):
        return True
    return not x.template.rstrip("/").endswith("}")


@check(
    "routes.not_found",
    severity="warning",
    description="""An id no response returned, on a path parameter (GET, PATCH and DELETE of
    one object, and actions on it such as POST .../{id}/like; PUT or POST to .../{id} may
    create it), gets a 404 (or another 4xx), not a 2xx or a 5xx.""",
    fix="Look the object up first and raise HTTPException(404) when it does not exist.",
    needs={"exercise"},
)
def not_found(ev: Evidence) -> Verdict | None:
    tried = [x for x in ev.exchanges if x.kind == "unknown" and _on_an_object(x)]
    if not tried:
        return passed("no operation takes an id on a path parameter")
    bad = [
        (x, f"{x.status}")
        for x in tried
        if x.status is not None and (200 <= x.status < 300 or x.status >= 500)
    ]
    if bad:
        return failed(
            "unknown ids that were not answered with a 4xx:\n"
            + _listing(ev, bad, len(ev.exchanges))
        )
    return passed(f"{len(tried)} unknown id(s) answered 4xx")
