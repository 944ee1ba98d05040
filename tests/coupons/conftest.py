"""Coupon fixtures: a live room with a dropped campaign, viewer tokens minted fast."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from live_server.core.tokens import Role, TokenSigner

CampaignFactory = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def make_campaign(api: Any, make_room: Callable[..., Awaitable[dict[str, Any]]]) -> CampaignFactory:
    """Create (and by default drop) a campaign in a fresh live room.

    Returns the campaign plus ``room_id`` / ``host_token`` under ``_room``.
    """

    async def make(
        drop: bool = True, room: dict[str, Any] | None = None, **spec: Any
    ) -> dict[str, Any]:
        room = room or await make_room()
        body = {
            "title": "10 off any cake",
            "value": 10,
            "quantity": 100,
            "per_user": 1,
            "expires_at": int(time.time()) + 3600,
            **spec,
        }
        path = f"/api/v1/rooms/{room['room_id']}/campaigns"
        status, campaign = await api.post(path, room["host_token"], json=body)
        assert status == 201, campaign
        if drop:
            status, campaign = await api.post(f"{path}/{campaign['id']}/drop", room["host_token"])
            assert status == 200, campaign
        campaign["_room"] = room
        return dict(campaign)

    return make


@pytest.fixture
def viewer_token(signer: TokenSigner) -> Callable[[str, str], str]:
    """A viewer token without an HTTP round trip: (room_id, viewer_id) -> token."""
    return lambda room_id, viewer_id: signer.issue(Role.VIEWER, room_id, viewer_id)


def claim_path(campaign: dict[str, Any]) -> str:
    return f"/api/v1/rooms/{campaign['room_id']}/campaigns/{campaign['id']}/claim"
