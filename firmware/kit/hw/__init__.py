"""Drivers over `machine` only: the same code runs on a board and on the virtual board.

Import each one when needed (`from kit.hw import imu`) so unused drivers cost no RAM.
"""
