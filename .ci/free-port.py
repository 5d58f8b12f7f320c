"""Prints a TCP port on 127.0.0.1 that is free now, as the kernel picks one."""

import socket

with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    print(probe.getsockname()[1])
