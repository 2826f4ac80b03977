"""Typed application state shared by the REST handlers."""

from __future__ import annotations

from aiohttp import web

from control_plane.admin_service import AdminService
from data_plane.proxy.client_ip import ClientAddress
from data_plane.security.auth_throttle import FailureThrottle

SERVICE = web.AppKey("service", AdminService)
API_KEY = web.AppKey("api_key", str)
AUTH_THROTTLE = web.AppKey("auth_throttle", FailureThrottle)
CLIENT_ADDRESS = web.AppKey("client_address", ClientAddress)
