"""The one place a rate limit that cannot count becomes an answer: accounts.throttle raises
ThrottleUnavailable when the cache (Redis) is down, and this middleware answers 503 with
Retry-After instead of a 500. The request was refused before it did anything (the limits
are counted first, and a view's transaction rolls back on the way out); a gateway calling
a webhook retries a 503 later, which is what we want."""

import logging

from django.http import HttpResponse
from django.template.loader import render_to_string

from accounts.throttle import ThrottleUnavailable

log = logging.getLogger(__name__)

UNAVAILABLE_MESSAGE = "The service is briefly unavailable; try again in a minute."
RETRY_AFTER_SECONDS = 60


class ThrottleUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, ThrottleUnavailable):
            return None
        log.error(
            "Rate limits cannot count (cache unavailable), %s answered 503: %s",
            request.path,
            exception,
        )
        if "text/html" in request.headers.get("Accept", ""):
            response = HttpResponse(
                render_to_string(
                    "portal/service_unavailable.html",
                    {"message": UNAVAILABLE_MESSAGE},
                    request=request,
                ),
                status=503,
            )
        else:  # webhooks, API clients, scripts
            response = HttpResponse(UNAVAILABLE_MESSAGE, status=503, content_type="text/plain")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response["Cache-Control"] = "no-store"
        return response
