"""Views of the contacts workspace, one module per entity."""
