"""The local stand-ins `make dev` and the tests run: moto for AWS, a fake Spotify."""
