from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from accounts.admin_site import StaffAdminSite
from portal.views import (
    account,
    auth,
    balance,
    credit,
    health,
    instances,
    invoices,
    organizations,
    pages,
    pay_all,
    payment_methods,
    payments,
    payments_history,
    signup,
    subscriptions,
    webhooks,
)

# Staff hold the keys to every customer: the admin asks for the password and a TOTP code,
# on one page (accounts.admin_site).
admin.site.__class__ = StaffAdminSite
admin.site.site_header = "CAJ billing back office"
admin.site.site_title = "CAJ back office"

portal_patterns = [
    path("", pages.home, name="home"),
    path("login/", auth.login, name="login"),
    path("login/code/", auth.login_code, name="login_code"),
    path("login/code/resend/", auth.login_code_resend, name="login_code_resend"),
    path("login/password/", auth.login_password, name="login_password"),
    path("logout/", auth.logout, name="logout"),
    path("signup/", signup.signup, name="signup"),
    path("signup/sent/", signup.signup_sent, name="signup_sent"),
    path("signup/resend/", signup.signup_resend, name="signup_resend"),
    path("signup/confirm/", signup.signup_confirm_view, name="signup_confirm"),
    path("signup/welcome/", signup.signup_welcome, name="signup_welcome"),
    path("contact/", signup.contact, name="contact"),
    path("subscriptions/", subscriptions.subscriptions, name="subscriptions"),
    path(
        "subscriptions/<str:public_id>/edit/",
        subscriptions.subscription_edit,
        name="subscription_edit",
    ),
    path(
        "subscriptions/<str:public_id>/preview/",
        subscriptions.subscription_preview,
        name="subscription_preview",
    ),
    path("invoices/", invoices.invoices, name="invoices"),
    # Before invoices/<number>/: "pay-all" is no invoice number.
    path("invoices/pay-all/", pay_all.invoices_pay_all, name="invoices_pay_all"),
    path(
        "invoices/pay-all/authenticated/",
        pay_all.invoices_pay_all_authenticated,
        name="invoices_pay_all_authenticated",
    ),
    path(
        "invoices/pay-all/card/",
        pay_all.invoices_pay_all_card_return,
        name="invoices_pay_all_card_return",
    ),
    path(
        "invoices/pay-all/cancelled/",
        pay_all.invoices_pay_all_cancelled,
        name="invoices_pay_all_cancelled",
    ),
    path("invoices/<str:number>/", invoices.invoice_detail, name="invoice_detail"),
    path("invoices/<str:number>/pdf/", invoices.invoice_pdf, name="invoice_pdf"),
    path("invoices/<str:number>/pay/", payments.invoice_pay, name="invoice_pay"),
    path(
        "invoices/<str:number>/pay/authenticated/",
        payments.invoice_pay_authenticated,
        name="invoice_pay_authenticated",
    ),
    path(
        "invoices/<str:number>/pay/card/",
        payments.invoice_pay_card_return,
        name="invoice_pay_card_return",
    ),
    path(
        "invoices/<str:number>/pay/paypal/",
        payments.invoice_pay_paypal_return,
        name="invoice_pay_paypal_return",
    ),
    path(
        "invoices/<str:number>/pay/cancelled/",
        payments.invoice_pay_cancelled,
        name="invoice_pay_cancelled",
    ),
    path(
        "organizations/<int:pk>/",
        organizations.organization_detail,
        name="organization",
    ),
    path("payment-method/", payment_methods.payment_method, name="payment_method"),
    path("payment-method/add/", payment_methods.payment_method_add, name="payment_method_add"),
    path(
        "payment-method/added/", payment_methods.payment_method_added, name="payment_method_added"
    ),
    path(
        "payment-method/cancelled/",
        payment_methods.payment_method_cancelled,
        name="payment_method_cancelled",
    ),
    path(
        "payment-method/offline/",
        payment_methods.payment_method_add_offline,
        name="payment_method_add_offline",
    ),
    path(
        "payment-method/<int:pk>/default/",
        payment_methods.payment_method_make_default,
        name="payment_method_default",
    ),
    path(
        "payment-method/<int:pk>/remove/",
        payment_methods.payment_method_remove,
        name="payment_method_remove",
    ),
    path("payments/", payments_history.payments, name="payments"),
    path("payments/<int:pk>/receipt/", payments_history.payment_receipt, name="payment_receipt"),
    path("credit/", credit.credit, name="credit"),
    # The prepaid balance of cloud instances (the credit page is the invoices' credit).
    path("balance/", balance.balance, name="balance"),
    path("balance/top-up/", balance.top_up, name="balance_top_up"),
    path("balance/top-up/return/", balance.top_up_return, name="balance_top_up_return"),
    path("balance/ledger.csv", balance.ledger_csv, name="balance_ledger_csv"),
    path("balance/auto-top-up/", balance.auto_top_up, name="balance_auto_top_up"),
    path("instances/", instances.instances, name="instances"),
    path("instances/<int:pk>/enable/", instances.instance_enable, name="instance_enable"),
    path("instances/<int:pk>/disable/", instances.instance_disable, name="instance_disable"),
    path("instances/<int:pk>/edit/", instances.instance_edit, name="instance_edit"),
    path("account/", account.account, name="account"),
    path("account/password/", account.account_password, name="account_password"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/mdm/", include("fleet.api_urls")),
    path("favicon.ico", pages.favicon),
    path("healthz", health.healthz, name="healthz"),
    path("webhooks/stripe/", webhooks.stripe_webhook, name="webhook_stripe"),
    path("webhooks/paypal/", webhooks.paypal_webhook, name="webhook_paypal"),
    path("", include((portal_patterns, "portal"))),
]
# The sandbox gateway's stand-ins for Checkout, PayPal and 3-D Secure: only where the
# settings allow the sandbox at all (the demo, the tests); production has no such URL.
if settings.PAYMENT_SANDBOX:
    urlpatterns.insert(-1, path("sandbox/", include("billing.gateways.sandbox_urls")))
