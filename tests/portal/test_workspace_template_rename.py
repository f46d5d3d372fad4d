"""Renaming the model Template to WorkspaceTemplate keeps every template, the groups it is
open to, and the workspaces made from it
(portal/workspaces/migrations/0010_workspace_template.py)."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.portal.test_hub_name_migration import migrate, migrate_latest

# As tests/portal/test_hub_name_migration.py: SQLite's schema editor refuses to run inside a
# transaction; PostgreSQL rolls the migrations back with the test's.
pytestmark = pytest.mark.django_db(transaction=connection.vendor == "sqlite")
BEFORE = [("workspaces", "0009_gpu_count_text")]
AFTER = [("workspaces", "0010_workspace_template")]


def test_templates_their_groups_and_workspaces_survive_the_rename(make_person):
    owner = make_person("ann")  # the accounts schema is today's: made with today's model
    old = migrate(BEFORE)
    Group = old.get_model("auth", "Group")
    course = old.get_model("workspaces", "Template").objects.create(name="course", cpu_max=3)
    course.groups.add(Group.objects.create(name="ml-course"))
    old.get_model("workspaces", "Workspace").objects.create(
        owner_id=owner.pk, name="thesis", template=course, image="x", cpu=1, memory=2**30
    )
    try:
        new = migrate(AFTER)
        renamed = new.get_model("workspaces", "WorkspaceTemplate").objects.get(name="course")
        assert renamed.cpu_max == 3
        assert [group.name for group in renamed.groups.all()] == ["ml-course"]
        workspace = new.get_model("workspaces", "Workspace").objects.get(name="thesis")
        assert workspace.template_id == renamed.pk
        course_group = new.get_model("auth", "Group").objects.get(name="ml-course")
        assert list(course_group.workspace_templates.all()) == [renamed]
    finally:
        new = migrate_latest()
        new.get_model("workspaces", "Workspace").objects.filter(name="thesis").delete()
        new.get_model("workspaces", "WorkspaceTemplate").objects.filter(name="course").delete()
        new.get_model("auth", "Group").objects.filter(name="ml-course").delete()
        owner.delete()
