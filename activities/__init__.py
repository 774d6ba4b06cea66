"""activities package of XTrinode (see DESIGN.md)."""
