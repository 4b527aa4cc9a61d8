# socket as a program on the virtual board sees it: an ESP32 with no network
# to reach. The Unix port's socket would reach the computer and everything
# it reaches; this one answers as lwIP does without a connected interface.
# start.py puts it in sys.modules under socket and usocket.
from micropython import const
from socket import AF_INET, AF_INET6, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR

_EHOSTUNREACH = const(113)
_EAI_FAIL = const(-202)  # what getaddrinfo raises on an ESP32 without a network


def getaddrinfo(*args, **kwargs):
    raise OSError(_EAI_FAIL)


class socket:
    def __init__(self, af=AF_INET, type=SOCK_STREAM, proto=0):
        self.af, self.type = af, type

    def _unreachable(self, *args):
        raise OSError(_EHOSTUNREACH)

    connect = bind = listen = accept = send = sendall = sendto = recv = recvfrom = write = read = _unreachable

    def _nothing(self, *args):
        return None

    setsockopt = settimeout = setblocking = close = _nothing
