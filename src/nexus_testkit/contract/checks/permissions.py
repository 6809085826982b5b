"""Checks of the permissions the manifest declares against what the plugin did."""

from __future__ import annotations

from .._checks import KNOWN_PERMISSIONS, Verdict, check, failed, passed
from .._evidence import Evidence
from .._probes import CONTRACT_SOURCE
from ._util import RECORDED, bullets


@check(
    "permissions.declared",
    severity="error",
    description="""What the plugin does is covered by its permissions: publishing needs
    events.publish, subscribing events.subscribe, reads database.read, writes database.write,
    an outbound request or connection network.http (observed through the recording fakes and
    the network guard, on every path the run reached).""",
    fix="Add the missing permission to the manifest's permissions list.",
    needs={"manifest", "start"},
    uses=RECORDED,
)
def declared(ev: Evidence) -> Verdict | None:
    manifest = ev.manifest
    published = ev.published(CONTRACT_SOURCE)
    subscribed = ev.subscribed()
    needs: dict[str, str] = {}
    if published:
        needs.setdefault("events.publish", f"published {published[0].name!r}")
    if subscribed:
        needs.setdefault("events.subscribe", f"subscribed to {subscribed[0].event_name!r}")
    config_keys = set(manifest.configuration) | set(ev.valid_config)
    for op in ev.operations():
        if op.op in ("get", "exists", "list_keys"):
            # BasePlugin.get_config reads the raw key first: not the plugin's doing.
            if op.op == "get" and op.key in config_keys:
                continue
            needs.setdefault("database.read", f"{op.op}({op.key or op.value!r})")
        elif op.op in ("set", "delete", "clear"):
            needs.setdefault("database.write", f"{op.op}({op.key!r})")
    # Attempts in the plugin's own frames, or refused by the guard: not the
    # harness's own connections (the platform backend's database).
    outbound = [a for a in ev.outbound if a.by_plugin or a.outcome == "refused"]
    missing = [
        f"{perm}: the plugin {why}"
        for perm, why in needs.items()
        if perm not in manifest.permissions
    ]
    if "network.http" not in manifest.permissions:
        # Each destination once (bullets counts repeats): host as the plugin wrote it.
        missing += [f"network.http: the plugin reached out to {a.describe()}" for a in outbound]
    if missing:
        return failed(
            f"{manifest.path}: permissions missing for what the plugin did:\n" + bullets(missing)
        )
    if outbound:
        # Declared: the contract's network guard refused them, which is no defect.
        return passed(
            "outbound attempts (network.http is declared; the contract refuses them all):\n"
            + bullets(a.describe() for a in outbound)
        )
    return None


@check(
    "permissions.known",
    severity="warning",
    description="Every declared permission is one the platform knows.",
    fix="Fix the spelling, or remove permissions the platform does not define.",
    needs={"manifest"},
)
def known(ev: Evidence) -> Verdict | None:
    unknown = [p for p in ev.manifest.permissions if p not in KNOWN_PERMISSIONS]
    if unknown:
        return failed(
            f"unknown permission(s) {', '.join(map(repr, unknown))}; known: "
            f"{', '.join(KNOWN_PERMISSIONS)}"
        )
    return None
