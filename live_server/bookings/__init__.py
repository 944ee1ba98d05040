"""Bookings: a viewer books a visit to a store from the live room (one Lua call each)."""
