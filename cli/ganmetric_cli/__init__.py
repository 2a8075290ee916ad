"""The ``ganmetric`` command line: a thin click layer over the ganmetric API."""
