# network for the virtual board. `import network` must work after boot, when
# firmware/sim is out of reach, so this small module is imported at boot and
# its body (network_wlan.py) loads on first use of any name.


def __getattr__(name):
    from machine import _hostfs as hostfs

    body = hostfs.load("network_wlan")
    namespace = globals()
    for public in dir(body):
        if not public.startswith("__"):
            namespace[public] = getattr(body, public)
    if name not in namespace:
        raise AttributeError(name)
    return namespace[name]
