"""Trading a password for an API token: the request, the answer and the two 429s."""

from __future__ import annotations

from django.contrib.auth import authenticate
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, Throttled

from portal.accounts import lockout


class LoginLocked(APIException):
    """The account or the address is locked out; ``wait`` becomes the Retry-After header."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"

    def __init__(self, seconds: int):
        super().__init__(lockout.lockout_message(seconds))
        self.wait = seconds


class TokenRequestsThrottled(Throttled):
    """Over ``MLHUB_TOKEN_RATE`` token requests from one address, right or wrong password."""

    default_detail = "Too many token requests from this address."


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(write_only=True)
    password = serializers.CharField(
        write_only=True, style={"input_type": "password"}, trim_whitespace=False
    )

    def validate(self, attrs):
        request = self.context["request"]
        # The request goes along so django-axes' backend can refuse a locked account or address.
        user = authenticate(request=request, username=attrs["username"], password=attrs["password"])
        if user is None:
            # Axes marks the DRF Request it was handed, not the HttpRequest its middleware
            # sees: without this check a lockout would be answered as a plain wrong password.
            if getattr(request, "axes_locked_out", False):
                raise LoginLocked(lockout.lock_seconds_left(request, request.axes_credentials))
            raise serializers.ValidationError(
                "Unable to log in with provided credentials.", code="authorization"
            )
        # Axes forgives failures on a login (a signal authenticate() does not send): do the same.
        lockout.failures_forgive(
            username=attrs["username"], ip_address=lockout.client_address(request)
        )
        attrs["user"] = user
        return attrs


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="shown this once; send as `Authorization: Token …`")
