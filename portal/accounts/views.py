from __future__ import annotations

from django.contrib.auth import logout as end_portal_session
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods


@require_http_methods(["GET", "POST"])
def logout(request):
    """End both sessions: the portal's here, then the hub's at /hub/logout.

    The hub's logout sends people back here (its ``logout_redirect_url``), so logging out
    from JupyterLab ends the portal session too. The second visit finds no session and
    stops at the login page. GET is accepted for that redirect; a forced logout is the
    only thing a cross-site GET can cause.
    """
    if request.user.is_authenticated:
        end_portal_session(request)
        return redirect("/hub/logout")
    return redirect("login")
