"""Typed keys of everything the application holds (set up in cleanup contexts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    import socketio

    from coupons.service import CouponService
    from geo.index import NearestStores
    from geo.registry import StoreRegistry

    from .api import Api, Endpoint
    from .bookings.service import BookingService
    from .fastredis import FastRedis
    from .limits import LocalWindows
    from .metrics import Metrics
    from .questions.outbox import AnswerOutbox
    from .questions.service import QuestionService
    from .realtime import Realtime
    from .redis_conn import RedisClient
    from .rooms.live import LiveRooms
    from .rooms.service import RoomService
    from .settings import Settings
    from .stats.service import StatsService
    from .store_streams.replay import StoreFeed
    from .tokens import TokenSigner

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
REDIS: web.AppKey[RedisClient] = web.AppKey("redis")
FAST_REDIS: web.AppKey[FastRedis | None] = web.AppKey("fast_redis")
"""The auto-pipelined connection of the flash paths (claim, booking, their rate limits);
None on a cluster or a URL it does not speak: those paths then use REDIS."""
SIGNER: web.AppKey[TokenSigner] = web.AppKey("signer")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
API: web.AppKey[Api] = web.AppKey("api")
SIO: web.AppKey[socketio.AsyncServer] = web.AppKey("sio")
LOCAL_LIMITS: web.AppKey[LocalWindows] = web.AppKey("local_limits")
# Domain services: each domain adds its key below (typed by its service class).
REALTIME: web.AppKey[Realtime] = web.AppKey("realtime")
ROOMS: web.AppKey[RoomService] = web.AppKey("rooms")
LIVE_ROOMS: web.AppKey[LiveRooms] = web.AppKey("live_rooms")
STORES: web.AppKey[StoreRegistry] = web.AppKey("stores")
NEAREST: web.AppKey[NearestStores] = web.AppKey("nearest")
BOOKINGS: web.AppKey[BookingService] = web.AppKey("bookings")
COUPONS: web.AppKey[CouponService] = web.AppKey("coupons")

STORE_FEED: web.AppKey[StoreFeed] = web.AppKey("store_feed")
STATS: web.AppKey[StatsService] = web.AppKey("stats")
QUESTIONS: web.AppKey[QuestionService] = web.AppKey("questions")
QUESTION_OUTBOX: web.AppKey[AnswerOutbox] = web.AppKey("question_outbox")

# Per-request storage.
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
ENDPOINT: web.RequestKey[Endpoint] = web.RequestKey("endpoint")
