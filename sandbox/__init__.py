"""The sandbox around the library: loopback simulators of the providers and platforms (``sim``),
the end-to-end demo (``demo``) and a local Redis for both (``localredis``). Used by the demo, the
``simulate`` command, the tests and bench/; never by ``pipeline/``, and not in the production image."""
