from django.contrib import admin
from django.urls import include, path, re_path
from oauth2_provider import urls as oauth2_urls

from portal import branding
from portal.accounts import login_page, oidc
from portal.accounts import views as account_views
from portal.api import cleanup as cleanup_api
from portal.metrics.views import MetricsView
from portal.usage import export as usage_export
from portal.usage import pages as usage_pages
from portal.workspaces import dashboard
from portal.workspaces import views as workspace_views

urlpatterns = [
    path("", workspace_views.workspace_list, name="my-workspaces"),
    path("workspaces/create/", workspace_views.workspace_create, name="workspace-create"),
    path(
        "workspaces/<int:pk>/<str:verb>/",
        workspace_views.workspace_action,
        name="workspace-action",
    ),
    path("usage/", usage_pages.my_usage, name="my-usage"),
    path("usage.csv", usage_export.usage_csv, name="usage-csv"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("dashboard/usage/", usage_pages.everyone_usage, name="dashboard-usage"),
    path("dashboard/people/<int:pk>/<str:verb>/", dashboard.person_decide, name="person-decide"),
    path("accounts/login/", login_page.LoginView.as_view(), name="login"),
    path("accounts/oidc/login/", oidc.oidc_login, name="oidc_login"),
    path("accounts/oidc/callback/", oidc.oidc_callback, name="oidc_callback"),
    path("accounts/signup/", account_views.signup, name="signup"),
    path("accounts/", account_views.account, name="account"),
    path(
        "accounts/password/",
        account_views.PasswordChangeView.as_view(),
        name="password-change",
    ),
    path("accounts/tokens/", account_views.token_create, name="token-create"),
    path(
        "accounts/tokens/<str:token_key>/revoke/",
        account_views.token_revoke,
        name="token-revoke",
    ),
    path("accounts/ssh-keys/", account_views.ssh_key_add, name="ssh-key-add"),
    path("accounts/ssh-keys/<int:pk>/remove/", account_views.ssh_key_remove, name="ssh-key-remove"),
    path("branding/logo", branding.logo, name="brand-logo"),
    path("accounts/logout/", account_views.logout, name="logout"),
    path("admin/", admin.site.urls),
    path("o/", include((oauth2_urls.base_urlpatterns, "oauth2_provider"))),
    path("api/v1/", include("portal.api.urls")),
    # Prometheus's: an admin's API token or the metrics token (portal/metrics/views.py).
    path("metrics", MetricsView.as_view(), name="metrics"),
    # The original MLHub's cleanup service paths, for scripts written against it.
    path(
        "services/cleanup-service/users",
        cleanup_api.LegacyCleanupView.as_view(job="users"),
        name="legacy-cleanup-users",
    ),
    path(
        "services/cleanup-service/expired",
        cleanup_api.LegacyCleanupView.as_view(job="expired"),
        name="legacy-cleanup-expired",
    ),
    # The proxy sends /user/... here only when that server is not running.
    re_path(r"^user/(?P<rest>.+)$", workspace_views.server_not_running),
]
