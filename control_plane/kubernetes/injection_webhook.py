"""The HTTPS endpoint the API server calls for sidecar injection: ``POST /mutate``.

Served on its own listener (``--sidecar-webhook-listen``) with its own certificate, the
one the MutatingWebhookConfiguration's CA bundle names (cert-manager's, or a self-signed
one; see deploy/kubernetes/sidecar). The body is read up to MAX_REVIEW_BYTES; anything that
is not an AdmissionReview is answered 400 with what was wrong.
"""

from __future__ import annotations

import json
import logging
import ssl

from aiohttp import web

from control_plane.kubernetes.sidecar_injection import SidecarTemplate, review

log = logging.getLogger("ai_gateway.control_plane.kubernetes")

MAX_REVIEW_BYTES = 4 * 1024 * 1024  # a pod is a few KB; the API server caps objects at ~1.5 MB
TEMPLATE = web.AppKey("template", SidecarTemplate)


async def mutate(request: web.Request) -> web.Response:
    try:
        document = json.loads(await request.read())
        answer = review(document, request.app[TEMPLATE])
    except web.HTTPRequestEntityTooLarge:
        raise
    except (ValueError, UnicodeDecodeError, TypeError, AttributeError) as exc:
        # A shape review() did not expect is the sender's mistake, never a 500.
        return web.json_response({"error": f"not an AdmissionReview: {exc}"}, status=400)
    patched = "patch" in answer["response"]
    log.info("admission review %s: %s", answer["response"]["uid"],
             "sidecar added" if patched else "unchanged")  # fmt: skip
    return web.json_response(answer)


def build_webhook_app(template: SidecarTemplate) -> web.Application:
    app = web.Application(client_max_size=MAX_REVIEW_BYTES)
    app[TEMPLATE] = template
    app.router.add_post("/mutate", mutate)
    return app


def webhook_tls(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context
