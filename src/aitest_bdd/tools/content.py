"""The blocks of an MCP tool result, kept with their types, and the text the model reads for them."""

from __future__ import annotations

import json

import mcp_types

from .answers import ContentBlock, decoded_size


def content_block(block: mcp_types.ContentBlock) -> ContentBlock:
    """One block of a result: a binary resource keeps its type and size, not its bytes."""
    if isinstance(block, mcp_types.TextContent):
        return ContentBlock(type="text", text=block.text)
    if isinstance(block, mcp_types.ImageContent | mcp_types.AudioContent):
        return ContentBlock(type=block.type, mime_type=block.mime_type, data=block.data, size=decoded_size(block.data))
    if isinstance(block, mcp_types.ResourceLink):
        return ContentBlock(
            type="resource_link",
            name=block.name,
            uri=str(block.uri),
            description=block.description,
            mime_type=block.mime_type,
            size=block.size,
        )
    resource = block.resource
    embedded = ContentBlock(type="resource", uri=str(resource.uri), mime_type=resource.mime_type)
    if isinstance(resource, mcp_types.TextResourceContents):
        return embedded.model_copy(update={"text": resource.text})
    return embedded.model_copy(update={"size": decoded_size(resource.blob)})


def answer_content(result: mcp_types.CallToolResult) -> tuple[str, list[ContentBlock]]:
    """The text the model reads for a tool result, and the result's blocks when it has any besides text.

    The text has each block in order, text as it is and the others described (see `ContentBlock.described`);
    the structured content as JSON when there are no blocks. A text-only result keeps no blocks: its text is all.
    """
    blocks = [content_block(block) for block in result.content]
    parts = [block.described() for block in blocks]
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content))
    return "\n".join(parts), blocks if any(block.type != "text" for block in blocks) else []
