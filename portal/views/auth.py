from django.contrib.auth import logout as auth_logout
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST


def login(request):
    # Placeholder until login by e-mailed code (issue 3).
    return render(request, "portal/login.html", {})


@require_POST
def logout(request):
    auth_logout(request)
    return redirect("portal:login")
