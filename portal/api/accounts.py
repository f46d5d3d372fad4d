"""Sign-up and a person's own API tokens: ``/api/v1/auth/signup/`` and ``/api/v1/tokens/``."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from portal.accounts import services as accounts
from portal.accounts.models import User
from portal.api import services
from portal.api.models import ApiToken


class SignupSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    email = serializers.EmailField()
    password = serializers.CharField(
        write_only=True, style={"input_type": "password"}, trim_whitespace=False
    )

    def validate(self, data):
        # The site's password rules, as a field error (the service checks them again).
        candidate = User(username=data["username"], email=data["email"])
        try:
            validate_password(data["password"], candidate)
        except DjangoValidationError as error:
            raise serializers.ValidationError({"password": error.messages}) from None
        return data


class SignedUpSerializer(serializers.Serializer):
    username = serializers.CharField()
    approval = serializers.CharField(help_text='"pending": an administrator approves people')
    detail = serializers.CharField()


class SignupView(APIView):
    """Ask for an account. It waits for an administrator's approval before it can do anything."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "signup"

    @extend_schema(
        request=SignupSerializer,
        responses={
            201: SignedUpSerializer,
            400: OpenApiResponse(description="A name taken, an e-mail or password not accepted."),
            403: OpenApiResponse(description="Sign-up is closed, or not on the allow-list."),
            429: OpenApiResponse(description="Too many sign-ups from this address."),
        },
    )
    def post(self, request):
        form = SignupSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user = accounts.user_signup(**form.validated_data)
        body = {
            "username": user.username,
            "approval": user.approval,
            "detail": "Signed up. An administrator must approve the account before it can be used.",
        }
        return Response(body, status=status.HTTP_201_CREATED)


class ApiTokenSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="token_key", read_only=True, help_text="the key's start")
    expires_at = serializers.DateTimeField(source="expiry", read_only=True, allow_null=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "created", "expires_at"]
        read_only_fields = ["created"]
        extra_kwargs = {"name": {"required": True, "allow_blank": False}}


class NewApiTokenSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="shown this once")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]


class ApiTokenViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Your own API tokens: several, each with a name; a new one's key is shown once."""

    serializer_class = ApiTokenSerializer
    # The model for the API schema (its path parameter's type); what a person sees is
    # get_queryset's alone.
    queryset = ApiToken.objects.none()
    lookup_field = "token_key"
    lookup_url_kwarg = "id"

    def get_queryset(self):
        return ApiToken.objects.filter(user=self.request.user).order_by("-created", "token_key")

    @extend_schema(request=ApiTokenSerializer, responses={201: NewApiTokenSerializer})
    def create(self, request):
        form = ApiTokenSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        token, key = services.api_token_create(
            user=request.user, by=request.user, name=form.validated_data["name"]
        )
        token.token = key
        return Response(NewApiTokenSerializer(token).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.api_token_revoke(token=instance, by=self.request.user)
