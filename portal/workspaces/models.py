from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.utils import timezone

from lib import env, pools
from lib.origins import workspace_url
from lib.resources import Limits, WorkspaceResources, format_memory, parse_gpus

GIB = 1024**3


# A new template's bounds: 1 of 2 cores and 2G of 4G, or less where the hub allows less (a
# template may offer no more than the hub starts: workspace_templates.template_check).
def cpu_max_default() -> float:
    return min(2.0, settings.WORKSPACE_CPU_MAX)


def cpu_default_default() -> float:
    return min(1.0, cpu_max_default())


def memory_max_default() -> int:
    return min(4 * GIB, settings.WORKSPACE_MEMORY_MAX)


def memory_default_default() -> int:
    return min(2 * GIB, memory_max_default())


class TemplateQuerySet(models.QuerySet):
    def usable_by(self, user) -> TemplateQuerySet:
        """Admins use every template; others those open to all (no groups) or to a group of
        theirs."""
        if user.is_admin:
            return self.all()
        return self.filter(models.Q(groups=None) | models.Q(groups__user=user)).distinct()


class WorkspaceTemplate(models.Model):
    """What a workspace may be: its image, the bounds of its resources, how long it lives
    and who may use it."""

    name = models.SlugField(max_length=40, unique=True)
    description = models.CharField(max_length=200, blank=True, help_text="Shown in the create form")
    groups = models.ManyToManyField(
        "auth.Group",
        blank=True,
        related_name="workspace_templates",
        help_text="Who may use it; none: everyone",
    )
    is_default = models.BooleanField(
        default=False, help_text="Chosen when a request names no template (one at most)"
    )
    image = models.CharField(max_length=200, default=env.DEFAULT_IMAGE)
    cpu_default = models.FloatField(default=cpu_default_default)
    cpu_max = models.FloatField(default=cpu_max_default)
    memory_default = models.BigIntegerField(default=memory_default_default)
    memory_max = models.BigIntegerField(default=memory_max_default)
    gpus_max = models.PositiveSmallIntegerField(default=0, help_text="0: no GPUs")
    days_to_live_default = models.PositiveIntegerField(default=0, help_text="0: never expires")
    days_to_live_max = models.PositiveIntegerField(
        default=0, help_text="The most people may ask for, and extend to; 0: no limit"
    )
    pool_size = models.PositiveIntegerField(
        default=env.default_pool_size,
        help_text="Workspaces of it kept started and waiting for people (a warm pool); 0: none",
    )

    objects = TemplateQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="one_default_template",
                violation_error_message="Another template is already the default.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def limits(self) -> Limits:
        images = tuple(dict.fromkeys([self.image, *settings.WORKSPACE_IMAGES]))
        return Limits(
            images=images,
            cpu_max=self.cpu_max,
            memory_max=self.memory_max,
            gpus_max=self.gpus_max,
            default_image=self.image,
            default_cpu=self.cpu_default,
            default_memory=self.memory_default,
            gpu_ids=settings.EXECUTION_MODE != "k8s",
        )

    def expiry_from(self, start, days: int | None = None) -> timezone.datetime | None:
        """When a workspace made at ``start`` for ``days`` (default: the template's) expires."""
        days = self.days_to_live_default if days is None else days
        return start + timedelta(days=days) if days else None


class WorkspaceQuerySet(models.QuerySet):
    def visible_to(self, user) -> WorkspaceQuerySet:
        """Admins see every workspace; everyone else only their own. A workspace being
        deleted is gone for both: only the Django admin still lists it."""
        shown = self.select_related("owner", "template").filter(deleting_since__isnull=True)
        return shown if user.is_admin else shown.filter(owner=user)

    def alive(self) -> WorkspaceQuerySet:
        """Those the portal believes have a server in the hub (or holding a place for one in
        the start queue)."""
        return self.filter(state__in=Workspace.ALIVE)

    def start_queued(self) -> WorkspaceQuerySet:
        """Those waiting in the start queue: ``starting``, the hub not asked yet."""
        return self.filter(
            state=Workspace.State.STARTING, start_queued_at__isnull=False, deleting_since=None
        )

    def starts_in_flight(self) -> WorkspaceQuerySet:
        """Those whose start the hub was asked for and has not ended."""
        return self.filter(
            state=Workspace.State.STARTING, start_queued_at__isnull=True, deleting_since=None
        )

    def expiring_soon(self) -> WorkspaceQuerySet:
        """Those that expire within ``MLHUB_EXPIRY_WARNING_HOURS`` and have not yet (none
        when the warnings are off); the same rule as ``Workspace.expiring_soon``."""
        hours = settings.EXPIRY_WARNING_HOURS
        if not hours:
            return self.none()
        now = timezone.now()
        return self.filter(expires_at__gt=now, expires_at__lte=now + timedelta(hours=hours))


class Workspace(models.Model):
    """One named JupyterHub server of one person: ``/user/<owner>/<name>/``."""

    class State(models.TextChoices):
        STARTING = "starting"
        RUNNING = "running"
        STOPPING = "stopping"
        STOPPED = "stopped"
        ERROR = "error"

    ALIVE = (State.STARTING, State.RUNNING, State.STOPPING)

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workspaces"
    )
    name = models.CharField(max_length=30)
    template = models.ForeignKey(
        WorkspaceTemplate, on_delete=models.PROTECT, related_name="workspaces"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.STOPPED)
    message = models.TextField(blank=True, help_text="Why the last start or stop failed")
    # The hub's progress stream of the current start, as the spawn follower last read it.
    progress = models.PositiveSmallIntegerField(default=0, help_text="percent of the start")
    progress_message = models.CharField(max_length=300, blank=True)
    image = models.CharField(max_length=200)
    cpu = models.FloatField()
    memory = models.BigIntegerField()
    gpus = models.CharField(
        max_length=50, blank=True, help_text='"all", device indices "0,1", or "count:2"'
    )
    shm_size = models.BigIntegerField(null=True, blank=True)
    env = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the state was last written from the hub's word (a report, an action)",
    )
    deleting_since = models.DateTimeField(
        null=True, blank=True, help_text="Deleted; kept until the hub has removed its resources"
    )
    # When the start under way was asked for (a create or a start), until it ends (running,
    # error or stopped): how long starts take (portal/metrics/counters.py start_ended,
    # called from portal/workspaces/services.py state_written).
    start_asked_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set while the row waits in the start queue (state "starting", the hub not asked yet):
    # when it joined, for its place (portal/workspaces/start_queue.py).
    start_queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The expiry its owner was e-mailed about (portal/workspaces/expiry.py): an extension
    # changes expires_at, so the next approach of the new expiry warns again.
    expiry_warned_for = models.DateTimeField(
        null=True, blank=True, help_text="The expiry its owner was last warned of by e-mail"
    )

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["owner__username", "name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="workspace_name_per_owner"),
        ]
        indexes = [
            # The sync pass and the state filter of lists and the admin read by state.
            models.Index(fields=["state"], name="workspace_state"),
            # The expiry warnings' pass (expiring_soon: a range of expires_at) every few
            # minutes, and the admin's "expiring soon" filter.
            models.Index(fields=["expires_at"], name="workspace_expires_at"),
        ]

    def __str__(self) -> str:
        return f"{self.owner.username}/{self.name}"

    def synced_as_of(self, last_sync: datetime | None) -> datetime | None:
        """How recent the stored state is: its own last write or the last full sync pass,
        which checked every row it did not change."""
        return max(filter(None, [self.synced_at, last_sync]), default=None)

    @property
    def url(self) -> str:
        """Where a browser opens it: on its owner's own origin unless single-origin."""
        return workspace_url(
            settings.PUBLIC_URL,
            self.owner.hub_name,
            self.name,
            single_origin=settings.SINGLE_ORIGIN,
            base_url=settings.BASE_URL,
        )

    # The progress message of a workspace whose first start a task will make (user-hub mode).
    QUEUED = "Queued to start"

    @property
    def start_queued(self) -> bool:
        """Stopped, but a task is about to start it: pages show it as starting."""
        return self.state == self.State.STOPPED and self.progress_message == self.QUEUED

    @property
    def access_scope(self) -> str:
        """The hub scope that opens this workspace's server and no other (its tokens')."""
        return f"access:servers!server={self.owner.hub_name}/{self.name}"

    @property
    def time_left(self) -> timedelta | None:
        """Until it expires (zero once it has); None when it never does."""
        if self.expires_at is None:
            return None
        return max(self.expires_at - timezone.now(), timedelta(0))

    @property
    def expiring_soon(self) -> bool:
        """Expires within ``MLHUB_EXPIRY_WARNING_HOURS`` and has not yet: pages flag it."""
        hours = settings.EXPIRY_WARNING_HOURS
        if not hours or self.expires_at is None:
            return False
        return timedelta(0) < self.expires_at - timezone.now() <= timedelta(hours=hours)

    @property
    def memory_display(self) -> str:
        return format_memory(self.memory)

    def resources(self) -> WorkspaceResources:
        gpus = parse_gpus(self.gpus)  # as stored: gpus_text's forms
        return WorkspaceResources(
            image=self.image,
            cpu=self.cpu,
            memory=self.memory,
            gpus=tuple(gpus) if isinstance(gpus, list) else gpus,
            shm_size=self.shm_size,
            env=self.env,
        )

    def user_options(self) -> dict:
        """What the spawner gets (it checks these again against its own limits). Reads the
        owner's SSH keys: call it when starting."""
        # Epoch seconds, 0 = never: the spawner labels containers with it for cleanup.
        expires_at = int(self.expires_at.timestamp()) if self.expires_at else 0
        options = {**self.resources().to_options(), "expires_at": expires_at}
        # The owner's keys as of this start, for the workspace's own sshd (the gateway lets a
        # key through only to its owner's workspaces; this sshd then checks it again). Keys
        # added or removed later count from the next start. Only the owner's, also when an
        # admin starts it.
        keys = list(
            self.owner.ssh_keys.order_by("created_at", "id").values_list("public_key", flat=True)
        )
        if keys:
            options["ssh_keys"] = keys
        slot = self.pool_slot_name()
        if slot:
            # The slot it was made from (at every start: the spawner claims it only for the
            # first, and finds the workspace's volume by it after a hub lost its state).
            options[pools.OPTION] = slot
        return options

    # Not stored: set by the create that just claimed a warm pool's slot for this workspace,
    # whose first start then skips the start queue (start_queue.reserve).
    slot_just_claimed = False

    def pool_slot_name(self) -> str:
        try:
            return self.pool_slot.name
        except ObjectDoesNotExist:
            return ""


class SyncPass(models.Model):
    """The last periodic comparison of every workspace with the hub (one row, pk=1)."""

    started_at = models.DateTimeField(help_text="The hub's servers as of this moment")
    finished_at = models.DateTimeField()
    hub_calls = models.PositiveIntegerField(default=0)
    corrected = models.PositiveIntegerField(default=0)
    unknown_servers = models.PositiveIntegerField(
        default=0, help_text="Servers the hub runs that the portal has no workspace for"
    )

    class Meta:
        verbose_name_plural = "sync passes"

    def __str__(self) -> str:
        return f"sync of {self.started_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def last_started_at(cls) -> datetime | None:
        return cls.objects.filter(pk=1).values_list("started_at", flat=True).first()


class RecentStart(models.Model):
    """How long one recent start took, from asking the hub to ``running``: the start queue's
    estimate of a wait (portal/workspaces/start_queue.py). The newest ``KEPT`` are kept."""

    KEPT = 50

    ended_at = models.DateTimeField()
    seconds = models.FloatField()

    def __str__(self) -> str:
        return f"{self.seconds:.1f} s at {self.ended_at:%Y-%m-%d %H:%M:%S}"
