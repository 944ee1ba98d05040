"""Live rooms: lifecycle (scheduled -> live -> ended), viewers (OneID), room state."""
