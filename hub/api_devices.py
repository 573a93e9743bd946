"""Device enrolment over HTTP, for administrators (``devices.manage``): the enrolled keys, enrolling a
device's request (the file ``humiao edge enroll`` wrote, uploaded as JSON) and revoking a device.
The same service as ``humiao hub devices`` (hub/devices.py), audited there."""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from humiao.hub import devices, messages
from humiao.hub.deps import ClientDep, HubDep, PrincipalDep, require
from humiao.hub.schemas import DeviceKeyOut, DeviceKeys, Enrolment, Revocation, errors
from humiao.hub.tables import DeviceKey
from humiao.proto import signing
from humiao.proto.enrolment import EnrolmentError, EnrolmentRequest

router = APIRouter(prefix="/api/devices", tags=["devices"])
__all__ = ["DeviceKeyOut", "DeviceKeys", "Enrolment", "Revocation", "router"]  # the models live in hub/schemas.py


def _out(k: DeviceKey) -> DeviceKeyOut:
    return DeviceKeyOut(
        device=k.device_key,
        key_id=k.key_id,
        fingerprint=signing.fingerprint(signing.public_from_text(k.public_key)),
        username=k.username,
        enrolled_at=k.enrolled_at,
        enrolled_by=k.enrolled_by,
        revoked_at=k.revoked_at,
        revoked_by=k.revoked_by,
        revoke_reason=k.revoke_reason,
    )


@router.get("/keys", summary="The enrolled device keys", response_model=DeviceKeys, responses=errors(401, 403))
def list_keys(hub: HubDep, who: PrincipalDep) -> DeviceKeys:
    """Every device key the hub has enrolled, revoked ones too (``devices.manage``)."""
    require(who, "devices.manage")
    with hub.sessions() as s:
        return DeviceKeys(keys=[_out(k) for k in devices.listing(s)])


@router.post(
    "/enrol",
    summary="Enrol a device",
    response_model=DeviceKeyOut,
    responses=errors(400, 401, 403, 409, 422, 502),
)
async def enrol(hub: HubDep, who: PrincipalDep, address: ClientDep, body: Enrolment) -> DeviceKeyOut:
    """Enrols the device's request (400 when it is not one, 409 when the registry or the key refuses it, 502
    when the broker did not take the identity: nothing enrolled then). Audited."""
    require(who, "devices.manage")
    try:
        req = EnrolmentRequest.load(json.dumps(body.request))
    except EnrolmentError as err:
        raise messages.Problem(400, "error.enrol.invalid", reason=str(err)) from None

    def work() -> DeviceKeyOut:
        with hub.sessions() as s, hub.broker_rights() as broker:
            return _out(devices.enroll(s, broker, req, hub.cfg, who, body.replace, address))

    try:
        return await run_in_threadpool(work)
    except EnrolmentError as err:
        raise messages.Problem(409, "error.enrol.refused", reason=str(err)) from None
    except devices.BrokerUnavailable as err:
        raise messages.Problem(502, "error.enrol.broker", reason=str(err)) from None


@router.post(
    "/{district}/{venue}/{device}/revoke",
    summary="Revoke a device",
    response_model=DeviceKeyOut,
    responses=errors(401, 403, 404, 422, 502),
)
async def revoke(
    hub: HubDep, who: PrincipalDep, address: ClientDep, district: str, venue: str, device: str, body: Revocation
) -> DeviceKeyOut:
    """Revokes the device's key at the hub (its messages refused from now on), then disables its broker
    identity (502 when the broker did not confirm; the hub's refusal stands). Audited."""
    require(who, "devices.manage")

    def work() -> DeviceKeyOut:
        with hub.sessions() as s:  # at the hub first: refused from now on, whatever the broker says
            # an already revoked key: the broker step is done again (it may have failed the first time)
            row = devices.revoked_or_revoke(s, f"{district}/{venue}/{device}", who, body.reason, address)
            out = _out(row)
        with hub.broker_rights() as broker:
            broker.disable(out.username)
        return out

    try:
        return await run_in_threadpool(work)
    except EnrolmentError as err:
        raise messages.Problem(404, "error.device.unknown", reason=str(err)) from None
    except devices.BrokerUnavailable as err:
        raise messages.Problem(502, "error.revoke.broker", reason=str(err)) from None
