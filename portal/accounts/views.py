"""The people's own pages: sign up, log out, and the account page (password, API tokens,
SSH keys). Each action calls one service; refusals are shown as messages."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout as end_portal_session
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm, UserCreationForm
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.throttling import ScopedRateThrottle

from portal.accounts import access, services
from portal.accounts.models import User
from portal.api import services as api_services
from portal.api.models import ApiToken
from portal.bootstrap_forms import BootstrapForm
from portal.errors import ServiceError
from portal.quotas.limits import quota_summary
from portal.sshkeys import services as ssh_keys
from portal.sshkeys.models import SshKey


@require_http_methods(["GET", "POST"])
def logout(request):
    """End both sessions: the portal's here (POST), then the hub's at <prefix>hub/logout.

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
    return redirect(f"{settings.BASE_URL}hub/logout")


class SignupForm(BootstrapForm, UserCreationForm):
    email = forms.EmailField(help_text="An administrator may approve people by their domain")

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ["username", "email"]


class _SignupPage:
    """For DRF's throttle: the page counts against the API's sign-up rate, per address."""

    throttle_scope = "signup"


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("my-workspaces")
    if not settings.SIGNUP_ENABLED:
        return render(request, "registration/signup.html", {"closed": services.SIGNUP_CLOSED})
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if not ScopedRateThrottle().allow_request(request, _SignupPage):
            messages.error(request, "Too many sign-ups from this address; try again later.")
            return render(request, "registration/signup.html", {"form": form}, status=429)
        try:
            services.user_signup(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
            )
        except ServiceError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request,
                "Signed up. An administrator must approve your account; log in to see when.",
            )
            return redirect("login")
    return render(request, "registration/signup.html", {"form": form})


class PasswordChangePageForm(BootstrapForm, PasswordChangeForm):
    pass


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change.html"
    form_class = PasswordChangePageForm
    success_url = reverse_lazy("account")

    def form_valid(self, form):
        # Django's form checked the old password and the site's rules; the service saves it.
        user = services.user_password_change(
            user=self.request.user,
            by=self.request.user,
            password=form.cleaned_data["new_password1"],
        )
        update_session_auth_hash(self.request, user)  # this session stays logged in
        messages.success(self.request, "Your password was changed.")
        return redirect(self.success_url)


@login_required
def account(request, new_token: str | None = None):
    user = request.user
    return render(
        request,
        "accounts/account.html",
        {
            "refused": access.why_refused(user),
            "tokens": ApiToken.objects.filter(user=user).order_by("-created"),
            "new_token": new_token,
            "ssh_keys": SshKey.objects.filter(owner=user),
            "quota": quota_summary(user),
        },
    )


@login_required
@require_POST
def token_create(request):
    try:
        _, key = api_services.api_token_create(
            user=request.user, by=request.user, name=request.POST.get("name", "").strip()[:100]
        )
    except ServiceError as error:  # may not use MLHub (access.AccessRefused)
        messages.error(request, error.message)
        return redirect("account")
    # Rendered, never stored: a message would keep the key in a cookie or the session.
    return account(request, new_token=key)


@login_required
@require_POST
def token_revoke(request, token_key: str):
    token = get_object_or_404(ApiToken.objects.filter(user=request.user), token_key=token_key)
    api_services.api_token_revoke(token=token, by=request.user)
    messages.success(request, f"Token {token.name or token.token_key} revoked.")
    return redirect("account")


@login_required
@require_POST
def ssh_key_add(request):
    try:
        key = ssh_keys.ssh_key_add(
            by=request.user, text=request.POST.get("key", ""), name=request.POST.get("name", "")
        )
    except ServiceError as error:  # a bad key, or may not use MLHub (access.AccessRefused)
        messages.error(request, error.message)
    else:
        messages.success(request, f"SSH key {key.fingerprint} added.")
    return redirect(reverse("account") + "#ssh-keys")


@login_required
@require_POST
def ssh_key_remove(request, pk: int):
    key = get_object_or_404(SshKey.objects.filter(owner=request.user), pk=pk)
    ssh_keys.ssh_key_remove(key=key, by=request.user)
    messages.success(request, f"SSH key {key.fingerprint} removed.")
    return redirect(reverse("account") + "#ssh-keys")
