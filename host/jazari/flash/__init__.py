"""Putting the kit on boards: flash layout, partition table and filesystem images."""
