"""gencls's built-in plugins, registered through the ``gencls`` entry-point group like any other."""
