"""The sandbox's stand-ins for the gateways' hosted pages, under /sandbox/ (included by
portal/urls.py). Namespace "sandbox": billing/gateways/sandbox.py builds its URLs on it."""

from django.urls import path

from billing.gateways import sandbox_views

app_name = "sandbox"

urlpatterns = [
    path("checkout/<str:session_id>/", sandbox_views.checkout, name="checkout"),
    path("authenticate/<str:charge_ref>/", sandbox_views.authenticate, name="authenticate"),
    path("paypal/<str:order_id>/", sandbox_views.paypal, name="paypal"),
]
