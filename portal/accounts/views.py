from __future__ import annotations

from django.contrib.auth import logout as end_portal_session
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods


@require_http_methods(["GET", "POST"])
def logout(request):
    """End both sessions: the portal's here (POST), then the hub's at /hub/logout.

    The hub's logout sends people back here with a GET (its ``logout_redirect_url``). A GET
    never ends a session, so another site cannot log people out with a link or an image:
    it shows a page whose button posts here. After the portal's own logout the hub sends
    people back once more, with no session left, and that ends at the login page.
    """
    if not request.user.is_authenticated:
        return redirect("login")
    if request.method == "GET":
        return render(request, "registration/logout_confirm.html")
    end_portal_session(request)
    return redirect("/hub/logout")
