"""The rule language: a typed JSON document (``schema``), its text form (``text``) and the
compiler that evaluates it over bars with numpy (``compiler``). No Django, no ``eval``."""
