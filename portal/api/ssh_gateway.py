"""The SSH gateway's one endpoint: the authorized_keys line of an offered key
(portal/sshkeys/gateway.py). Its credential (``MLHUB_SSH_GATEWAY_TOKEN``) is accepted here and
nowhere else, and no other credential is accepted here."""

from __future__ import annotations

import re

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.views import APIView

from portal.api.service_credentials import service_permission
from portal.sshkeys.gateway import authorized_keys_line

# What sshd's %f gives: "SHA256:" and 43 unpadded base64 characters.
FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")


class AuthorizedKeysView(APIView):
    authentication_classes = []  # the bearer token is the gateway's, not a person's
    permission_classes = [
        service_permission("SSH_GATEWAY_TOKEN", "Only the SSH gateway may look up keys here.")
    ]
    throttle_classes = []

    @extend_schema(exclude=True)
    def get(self, request):
        fingerprint = request.query_params.get("fingerprint", "")
        if not FINGERPRINT.match(fingerprint):
            raise ValidationError({"fingerprint": "give a key's SHA256:... fingerprint"})
        # text/plain, as sshd reads it: one line, or nothing (the key is refused).
        return HttpResponse(authorized_keys_line(fingerprint), content_type="text/plain")
