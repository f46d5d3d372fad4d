from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "portal.workspaces"
    label = "workspaces"
    verbose_name = "Workspaces"

    def ready(self):
        # The user-hub mode makes a person's workspace when they log in.
        from portal.workspaces import user_hub  # noqa: F401
