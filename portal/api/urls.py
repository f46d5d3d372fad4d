from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from portal.api import (
    accounts,
    allowlist,
    audit,
    budgets,
    cleanup,
    hub_events,
    pools,
    ssh_gateway,
    ssh_keys,
    usage,
    views,
    workspace_templates,
)

router = DefaultRouter(trailing_slash="/?")
router.register("workspaces", views.WorkspaceViewSet, basename="workspace")
router.register("users", views.UserViewSet, basename="user")
router.register("audit", audit.AuditViewSet, basename="audit")
router.register("tokens", accounts.ApiTokenViewSet, basename="api-token-own")
router.register("ssh-keys", ssh_keys.SshKeyViewSet, basename="ssh-key")
router.register("allowlist", allowlist.AllowListViewSet, basename="allowlist")
router.register("templates", workspace_templates.TemplateViewSet, basename="template")
router.register("cleanup/runs", cleanup.CleanupRunViewSet, basename="cleanup-run")
router.register("usage", usage.UsageViewSet, basename="usage")
router.register("budgets", budgets.BudgetViewSet, basename="budget")

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    path("auth/signup/", accounts.SignupView.as_view(), name="api-signup"),
    path("cleanup/users/", cleanup.CleanupJobView.as_view(job="users"), name="cleanup-users"),
    path("cleanup/expired/", cleanup.CleanupJobView.as_view(job="expired"), name="cleanup-expired"),
    path("me/", views.MeView.as_view(), name="api-me"),
    path("pools/", pools.PoolsView.as_view(), name="api-pools"),
    path("internal/hub-events/", hub_events.HubEventView.as_view(), name="api-hub-events"),
    path(
        "internal/ssh-gateway/authorized-keys/",
        ssh_gateway.AuthorizedKeysView.as_view(),
        name="api-ssh-authorized-keys",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file (docs/?script) instead of
    # inline, and our template drops its inline <style>: the docs run under the portal's
    # strict Content-Security-Policy with no 'unsafe-inline'.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="api/swagger_ui.html"
        ),
        name="api-docs",
    ),
    *router.urls,
    re_path(r"^.*$", views.not_found),
]
