"""Intake: the wire formats monitoring already speaks, mapped onto domain events."""
