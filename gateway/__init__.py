"""gateway package of XTrinode (see DESIGN.md)."""
