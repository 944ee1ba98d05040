"""Community groups as a channel of their own (docs/GROUPS.md)."""
