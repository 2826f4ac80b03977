"""Typed application state shared by the REST handlers."""

from __future__ import annotations

from aiohttp import web

from control_plane.admin_service import AdminService

SERVICE = web.AppKey("service", AdminService)
API_KEY = web.AppKey("api_key", str)
