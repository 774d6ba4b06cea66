"""workflows package of XTrinode (see DESIGN.md)."""
