"""DOT's endpoints under /o/ (so the issuer is ``http://127.0.0.1:<port>/o``) and the login
page that its authorization endpoint sends people to."""

from django.contrib.auth.views import LoginView
from django.urls import include, path

urlpatterns = [
    path("o/", include("oauth2_provider.urls")),
    path("accounts/login/", LoginView.as_view(template_name="login.html"), name="login"),
]
