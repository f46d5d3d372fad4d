"""Workspace templates: who may use which, and the admins' changes to them."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from lib import env
from lib.resources import MIN_CPU, format_memory
from portal.audit.log import audited
from portal.audit.models import AuditEntry
from portal.errors import ServiceError, require_admin
from portal.pools import services as pools
from portal.workspaces.models import GIB, WorkspaceTemplate


def template_for(*, owner, name: str | None) -> WorkspaceTemplate:
    """The template ``owner`` gets for ``name`` (None: the default one).

    Unknown is a 400; a template the owner's groups may not use is a 403 that names it (its
    existence is no secret: the API lists templates to everyone who may use them).
    """
    if name:
        chosen = WorkspaceTemplate.objects.filter(name=name).first()
        if chosen is None:
            raise ServiceError(f"Unknown template {name!r}")
    else:
        chosen = WorkspaceTemplate.objects.filter(is_default=True).first()
        if chosen is None:
            raise ServiceError("No template is the default; name one.")
    if not WorkspaceTemplate.objects.usable_by(owner).filter(pk=chosen.pk).exists():
        raise ServiceError(f"{owner} may not use the template {chosen.name!r}.", 403)
    return chosen


def template_check(template: WorkspaceTemplate) -> None:
    """Its bounds agree with each other and its image may run; a 400 naming what does not."""
    problems = []
    if template.image not in settings.WORKSPACE_IMAGES:
        allowed = ", ".join(settings.WORKSPACE_IMAGES)
        problems.append(
            f"image {template.image!r} is not allowed (MLHUB_WORKSPACE_IMAGES: {allowed})"
        )
    # Below MIN_CPU a workspace's CPU limit would not hold (lib/resources.py says why).
    if not template.cpu_max >= MIN_CPU:
        problems.append(f"CPU maximum {template.cpu_max} is below the minimum of {MIN_CPU} cores")
    if not MIN_CPU <= template.cpu_default <= template.cpu_max:
        problems.append(
            f"CPU default {template.cpu_default} must be at least {MIN_CPU} and at most "
            f"{template.cpu_max}"
        )
    # Above the hub's bounds the portal would accept what the hub then refuses at the start.
    if template.cpu_max > settings.WORKSPACE_CPU_MAX:
        problems.append(
            f"CPU maximum {template.cpu_max} is above the hub's {settings.WORKSPACE_CPU_MAX} "
            "(MLHUB_CPU_MAX)"
        )
    if template.memory_max > settings.WORKSPACE_MEMORY_MAX:
        problems.append(
            f"memory maximum {format_memory(template.memory_max)} is above the hub's "
            f"{format_memory(settings.WORKSPACE_MEMORY_MAX)} (MLHUB_MEMORY_MAX)"
        )
    if template.gpus_max > settings.WORKSPACE_GPUS_MAX:
        problems.append(
            f"GPU maximum {template.gpus_max} is above the hub's {settings.WORKSPACE_GPUS_MAX} "
            "(MLHUB_GPUS_MAX)"
        )
    if not 0 < template.memory_default <= template.memory_max:
        problems.append(
            f"memory default {format_memory(template.memory_default)} must be above 0 and at "
            f"most {format_memory(template.memory_max)}"
        )
    if template.pool_size > settings.POOL_SIZE_MAX:
        problems.append(
            f"pool size {template.pool_size} is above the maximum of {settings.POOL_SIZE_MAX} "
            "(MLHUB_POOL_SIZE_MAX)"
        )
    most = template.days_to_live_max
    if most and not 0 < template.days_to_live_default <= most:
        problems.append(
            f"days to live default {template.days_to_live_default} must be 1 to {most} "
            "(the maximum); 0 (never expires) only when there is no maximum"
        )
    if problems:
        raise ServiceError("Template not saved: " + "; ".join(problems) + ".")


def _name(kwargs: dict) -> str:
    return kwargs["template"].name


@audited("template.save", _name)
def template_save(*, template: WorkspaceTemplate, groups=None, by) -> WorkspaceTemplate:
    """Create or change a template (admins). Marking it default unmarks the previous one."""
    require_admin(by, "change templates")
    template_check(template)
    with transaction.atomic():
        if template.is_default:
            WorkspaceTemplate.objects.exclude(pk=template.pk).filter(is_default=True).update(
                is_default=False
            )
        try:
            template.save()
        except IntegrityError:
            raise ServiceError(f"A template named {template.name!r} exists.", 409) from None
        if groups is not None:
            template.groups.set(groups)
    # Its pool follows: a new size, or slots of an image or size it no longer has.
    pools.pools_fill_soon()
    return template


@audited("template.delete", _name)
def template_delete(*, template: WorkspaceTemplate, by) -> None:
    require_admin(by, "change templates")
    slots = list(template.pool_slots.pooled().values_list("name", flat=True))
    try:
        template.delete()
    except ProtectedError:
        count = template.workspaces.count()
        raise ServiceError(
            f"The template {template.name!r} is used by {count} workspaces; delete those first.",
            409,
        ) from None
    pools.slots_remove_later(slots)


# What the first set-up adds beside the migrations' "default" (the lean image): a template for
# the data-science image, with room for its libraries.
DATA_SCIENCE = {
    "name": "data-science",
    "description": "numpy, pandas, scikit-learn, plots, git, VS Code, TensorBoard; "
    "1 core and 4G by default, up to 2 cores and 8G",
    "image": env.DATA_SCIENCE_IMAGE,
    "cpu_default": 1.0,
    "cpu_max": 2.0,
    "memory_default": 4 * GIB,
    "memory_max": 8 * GIB,
}


def templates_first_ensure() -> str:
    """The out-of-the-box templates, once: ``default`` (the lean image, made by the
    migrations) and ``data-science``, added only while the templates are still those the
    migrations made and no admin has ever changed one (the audit log has no ``template.*``
    entry), so an admin's choice, a deletion included, is never undone. A summary line."""
    names = list(WorkspaceTemplate.objects.values_list("name", flat=True))
    if names != ["default"] or AuditEntry.objects.filter(action__startswith="template.").exists():
        return f"left as they are ({', '.join(names) or 'none'})"
    # A hub that allows less than they offer (a small host, MLHUB_CPU_MAX, MLHUB_MEMORY_MAX)
    # gets them fitted to its bounds: it would refuse the rest at every start.
    # (Only fitted: its image is the migrations', whatever MLHUB_WORKSPACE_IMAGES allows.)
    WorkspaceTemplate.objects.filter(name="default").update(
        **_fitted(WorkspaceTemplate.objects.values().get(name="default"))
    )
    if DATA_SCIENCE["image"] not in settings.WORKSPACE_IMAGES:
        return (
            f"default only: {DATA_SCIENCE['image']} is not in MLHUB_WORKSPACE_IMAGES, so no "
            "data-science template"
        )
    template = WorkspaceTemplate(**{**DATA_SCIENCE, **_fitted(DATA_SCIENCE)})
    template_check(template)
    template.save()
    return "default and data-science, made now"


def _fitted(values: dict) -> dict:
    """The bounds of ``values`` within the hub's; defaults no higher than the maxima."""
    cpu_max = min(values["cpu_max"], settings.WORKSPACE_CPU_MAX)
    memory_max = min(values["memory_max"], settings.WORKSPACE_MEMORY_MAX)
    return {
        "cpu_max": cpu_max,
        "cpu_default": min(values["cpu_default"], cpu_max),
        "memory_max": memory_max,
        "memory_default": min(values["memory_default"], memory_max),
    }
