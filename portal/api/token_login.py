"""Trading a password for an API token: the request, the answer and the two 429s.

The rules (who gets a token, lockouts) are in ``portal.api.services.api_token_login``.
"""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.exceptions import Throttled


class TokenRequestsThrottled(Throttled):
    """Over ``MLHUB_TOKEN_RATE`` token requests from one address, right or wrong password."""

    default_detail = "Too many token requests from this address."


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(write_only=True)
    password = serializers.CharField(
        write_only=True, style={"input_type": "password"}, trim_whitespace=False
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="shown this once; send as `Authorization: Token …`")
