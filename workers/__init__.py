"""workers package of XTrinode (see DESIGN.md)."""
