"""OpenAPI details Litestar leaves out, so that the document says exactly what is accepted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

# Litestar's own msgspec schema plugin has no public import path.
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.typing import FieldDefinition

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.handlers import HTTPRouteHandler
    from litestar.openapi.spec import Schema


def operation_id(handler: HTTPRouteHandler, _method: Any, _path: Any) -> str:
    """An operation's id is its handler's name (``send_message``, ``list_threads``, …): short,
    stable, and what a generated client names its functions. Litestar refuses duplicates."""
    return handler.handler_name


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Declares ``additionalProperties: false`` for request structs that refuse unknown fields."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        if not super().is_plugin_supported_field(field_definition):
            return False
        info = msgspec.inspect.type_info(field_definition.type_)
        return bool(getattr(info, "forbid_unknown_fields", False))

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        return schema
