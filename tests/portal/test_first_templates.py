"""`mlhub_setup` makes the out-of-the-box templates once: `default` (the lean image, from the
migrations) and `data-science`, never undoing what an admin chose."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from lib import env
from portal.workspaces.models import GIB, WorkspaceTemplate
from portal.workspaces.workspace_templates import (
    template_delete,
    template_save,
    templates_first_ensure,
)

BOTH = [env.DEFAULT_IMAGE, env.DATA_SCIENCE_IMAGE]


def test_both_images_are_allowed_when_nothing_says_otherwise(monkeypatch):
    monkeypatch.delenv("MLHUB_WORKSPACE_IMAGES", raising=False)
    assert env.workspace_images() == ["mlhub-workspace:latest", "mlhub-workspace-ds:latest"]


@pytest.mark.django_db
def test_the_first_set_up_makes_default_and_data_science(settings):
    settings.WORKSPACE_IMAGES = BOTH
    out = StringIO()
    call_command("mlhub_setup", stdout=out)
    assert "Workspace templates: default and data-science, made now" in out.getvalue()
    default = WorkspaceTemplate.objects.get(name="default")
    science = WorkspaceTemplate.objects.get(name="data-science")
    assert (default.image, default.is_default) == ("mlhub-workspace:latest", True)
    assert (science.image, science.is_default) == ("mlhub-workspace-ds:latest", False)
    assert (science.memory_default, science.memory_max) == (4 * GIB, 8 * GIB)
    assert science.memory_max > default.memory_max


@pytest.mark.django_db
def test_a_second_set_up_changes_nothing(settings):
    settings.WORKSPACE_IMAGES = BOTH
    templates_first_ensure()
    WorkspaceTemplate.objects.filter(name="data-science").update(memory_max=16 * GIB)
    assert templates_first_ensure() == "left as they are (data-science, default)"
    assert WorkspaceTemplate.objects.get(name="data-science").memory_max == 16 * GIB


@pytest.mark.django_db
def test_a_data_science_template_the_admin_deleted_stays_deleted(settings, carol):
    settings.WORKSPACE_IMAGES = BOTH
    templates_first_ensure()
    template_delete(template=WorkspaceTemplate.objects.get(name="data-science"), by=carol)
    assert templates_first_ensure() == "left as they are (default)"
    assert list(WorkspaceTemplate.objects.values_list("name", flat=True)) == ["default"]


@pytest.mark.django_db
def test_templates_an_admin_made_are_left_alone(settings, carol):
    settings.WORKSPACE_IMAGES = BOTH
    template_save(template=WorkspaceTemplate(name="course", image=env.DEFAULT_IMAGE), by=carol)
    assert templates_first_ensure() == "left as they are (course, default)"
    assert not WorkspaceTemplate.objects.filter(name="data-science").exists()


@pytest.mark.django_db
def test_no_data_science_template_when_its_image_is_not_allowed(settings):
    settings.WORKSPACE_IMAGES = ["mlhub-workspace:latest"]
    assert templates_first_ensure() == (
        "default only: mlhub-workspace-ds:latest is not in MLHUB_WORKSPACE_IMAGES, "
        "so no data-science template"
    )
    assert list(WorkspaceTemplate.objects.values_list("name", flat=True)) == ["default"]


@pytest.mark.django_db
def test_on_a_hub_that_allows_less_both_are_fitted_to_it(settings):
    settings.WORKSPACE_IMAGES = BOTH
    settings.WORKSPACE_CPU_MAX, settings.WORKSPACE_MEMORY_MAX = 1.0, 3 * GIB
    assert templates_first_ensure() == "default and data-science, made now"
    bounds = {
        found.name: (found.cpu_default, found.cpu_max, found.memory_default, found.memory_max)
        for found in WorkspaceTemplate.objects.all()
    }
    assert bounds == {
        "default": (1.0, 1.0, 2 * GIB, 3 * GIB),
        "data-science": (1.0, 1.0, 3 * GIB, 3 * GIB),
    }
