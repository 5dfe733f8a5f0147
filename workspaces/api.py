from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from gradent.api import StrictModelSerializer
from gradent.lib.orm import one_or_none
from workspaces.models import APIToken, Membership, Workspace


class WorkspaceSerializer(StrictModelSerializer):
    role = serializers.SerializerMethodField()
    personal = serializers.SerializerMethodField()

    class Meta:
        model = Workspace
        fields = ["id", "name", "slug", "role", "personal", "created"]

    def get_role(self, workspace: Workspace) -> str:
        user = self.context["request"].user
        return (
            one_or_none(Membership.objects.filter(workspace=workspace, user=user).values_list("role", flat=True)) or ""
        )

    def get_personal(self, workspace: Workspace) -> bool:
        return workspace.personal_owner_id == self.context["request"].user.pk


class WorkspaceViewSet(viewsets.ReadOnlyModelViewSet):
    """The workspaces you belong to, with your role in each."""

    serializer_class = WorkspaceSerializer

    def get_queryset(self):
        return Workspace.objects.for_user(self.request.user)


class APITokenSerializer(StrictModelSerializer):
    class Meta:
        model = APIToken
        fields = ["id", "name", "scope", "prefix", "last_used", "expires", "created"]
        read_only_fields = ["prefix", "last_used", "created"]


class APITokenCreatedSerializer(APITokenSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(APITokenSerializer.Meta):
        fields = [*APITokenSerializer.Meta.fields, "token"]


class APITokenViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Your personal API tokens. The key is returned once, at creation, and stored hashed."""

    serializer_class = APITokenSerializer
    queryset = APIToken.objects.all()  # for the schema's id type; get_queryset scopes it

    def get_queryset(self):
        return APIToken.objects.filter(user=self.request.user)

    @extend_schema(responses={201: APITokenCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if isinstance(request.auth, APIToken) and serializer.validated_data.get("scope") != APIToken.Scope.READ:
            if request.auth.scope == APIToken.Scope.READ:
                self.permission_denied(request, message="A read-only token cannot mint a write token.")
        token, raw = APIToken.issue(user=request.user, **serializer.validated_data)
        data = APITokenSerializer(token).data | {"token": raw}
        return Response(data, status=status.HTTP_201_CREATED)
