"""Python-backend models of the Triton repository. Each `<model>/<version>/model.py` is a one-line shim importing
one of these, so the code lives once in this package (installed in the server's environment)."""
