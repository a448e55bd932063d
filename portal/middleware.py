"""Responses for a logged-in user (portal customer or staff) stay out of shared and
browser caches: invoices, PDFs, balances and the admin are private."""

from django.utils.cache import patch_cache_control


class NoStoreWhenLoggedInMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response
