"""Runs a command with moto's server on a free loopback port, as MOTO_ENDPOINT_URL."""

import os
import subprocess
import sys

from devstack.aws import Moto


def main() -> int:
    command = sys.argv[1:]
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        print("usage: with_moto.py -- COMMAND...", file=sys.stderr)
        return 2
    with Moto() as moto:
        env = dict(os.environ, MOTO_ENDPOINT_URL=moto.url)
        return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main())
